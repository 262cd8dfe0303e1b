import Checksum
import Testing

@Suite struct CRC32CTests {
    @Test func matchesKnownVectors() {
        #expect(CRC32C.update(0, Array("123456789".utf8)) == 0xE306_9283)
        #expect(CRC32C.update(0, [UInt8](repeating: 0, count: 32)) == 0x8A91_36AA)
    }

    @Test func chainingEqualsTheConcatenation() {
        let whole = CRC32C.update(0, Array("hello, world".utf8))
        #expect(CRC32C.update(CRC32C.update(0, Array("hello".utf8)), Array(", world".utf8)) == whole)
        var accumulated = CRC32C()
        accumulated.update("hello".utf8)
        accumulated.update([UInt8](", world".utf8)[...])
        #expect(accumulated.value == whole)
    }

    @Test func slicingBy8AgreesWithTheBytewiseTailOnEveryLength() {
        let bytes = (0..<64).map { UInt8(truncatingIfNeeded: $0 &* 37 &+ 11) }
        for length in 0...bytes.count {
            var bytewise = CRC32C()
            for byte in bytes[..<length] { bytewise.update(CollectionOfOne(byte)) }
            #expect(CRC32C.update(0, bytes[..<length]) == bytewise.value)
        }
    }
}
