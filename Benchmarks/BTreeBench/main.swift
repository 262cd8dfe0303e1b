// Micro-benchmarks of BTreeStore: the B+-tree alone, the MVCC store, and watch fan-out.
// Run: swift run -c release btree-bench [keyCount]   (note `uptime` alongside: numbers depend on load)
import BTreeStore
import Foundation

let keyCount = CommandLine.arguments.dropFirst().first.flatMap(Int.init) ?? 1_000_000
let valueSize = 256

func key(_ number: Int) -> [UInt8] {
    withUnsafeBytes(of: UInt64(number).bigEndian) { Array($0) }
}

/// A distinct value per key, so the store cannot share one buffer between keys.
func value(_ number: Int) -> [UInt8] {
    var value = [UInt8](repeating: 0x61, count: valueSize)
    withUnsafeBytes(of: UInt64(number)) { value.replaceSubrange(0..<8, with: $0) }
    return value
}

/// CPU seconds used by this thread: on a shared machine, wall time measures the neighbours too.
func threadCPUSeconds() -> Double {
    var time = timespec()
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &time)
    return Double(time.tv_sec) + Double(time.tv_nsec) / 1e9
}

/// How long something took, on this thread's CPU and on the clock.
struct Timing {
    var cpu: Double
    var wall: Double
}

/// The result of `body` and how long it took.
func measure<T>(_ body: () throws -> T) rethrows -> (T, Timing) {
    let start = DispatchTime.now().uptimeNanoseconds
    let startCPU = threadCPUSeconds()
    let result = try body()
    let cpu = threadCPUSeconds() - startCPU
    return (result, Timing(cpu: cpu, wall: Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9))
}

func rate(_ count: Int, _ timing: Timing) -> String {
    String(format: "%10.0f ops/CPU-s  (%.3f CPU-s, %.3f wall-s)", Double(count) / timing.cpu, timing.cpu, timing.wall)
}

/// Resident memory of this process in bytes.
func residentBytes() -> Int {
    let statm = (try? String(contentsOfFile: "/proc/self/statm", encoding: .utf8)) ?? "0 0"
    let pages = Int(statm.split(separator: " ")[1]) ?? 0
    return pages * 4096
}

let keys = (0..<keyCount).map(key)
var shuffledNumbers = Array(0..<keyCount)
var generator = SystemRandomNumberGenerator()
shuffledNumbers.shuffle(using: &generator)
let shuffled = shuffledNumbers.map { keys[$0] }

print("== BTree<[UInt8], [UInt8]>: \(keyCount) 8-byte keys, \(valueSize)-byte values (one shared value)")
let sharedValue = value(0)
do {
    let (tree, sequentialTime) = measure { BTreeBenchmark.insert(keys, value: sharedValue) }
    print("  insert sequential  ", rate(keyCount, sequentialTime))
    let (_, randomTime) = measure { BTreeBenchmark.insert(shuffled, value: sharedValue) }
    print("  insert random      ", rate(keyCount, randomTime))
    let (found, lookupTime) = measure { BTreeBenchmark.lookup(shuffled, in: tree) }
    print("  lookup random      ", rate(keyCount, lookupTime), found == keyCount ? "" : "MISSING KEYS")
    let (_, countTime) = measure {
        BTreeBenchmark.count(from: key(1), to: key(keyCount - 1), in: tree, repetitions: 100_000)
    }
    print(String(format: "  count range         %.3f µs CPU per count", countTime.cpu / 100_000 * 1e6))
    let (_, bulkTime) = measure { BTreeBenchmark.bulkLoad(keys, value: sharedValue) }
    print("  bulk load          ", rate(keyCount, bulkTime))
}

func storePuts(order: [Int], batchSize: Int, label: String) throws -> MVCCStore {
    let before = residentBytes()
    var requests = order.map { PutRequest(key: keys[$0], value: value($0)) }
    let store = MVCCStore()
    let (_, time) = try measure {
        var index = 0
        while index < requests.count {
            let end = min(index + batchSize, requests.count)
            try store.batch {
                for position in index..<end { _ = try store.put(requests[position]) }
            }
            index = end
        }
    }
    print("  put \(label), batches of \(batchSize)".padding(toLength: 40, withPad: " ", startingAt: 0), rate(keyCount, time))
    requests = []
    let used = residentBytes() - before
    // Only the first store's figure is meaningful: later ones reuse memory the earlier ones freed.
    let raw = keyCount * (8 + valueSize)
    print(String(format: "    memory: %.0f bytes/key, raw %d bytes/key: %.2fx raw", Double(used) / Double(keyCount),
                 8 + valueSize, Double(used) / Double(raw)))
    return store
}

print("== MVCCStore: \(keyCount) puts of 8-byte keys, \(valueSize)-byte values (distinct buffers)")
do {
    let store = try storePuts(order: Array(0..<keyCount), batchSize: 1000, label: "sequential keys")
    let view = store.readViews.current()
    let (found, getTime) = try measure { try BTreeBenchmark.pointReads(shuffledNumbers, view: view) }
    print("  point read (Range of one key)          ", rate(keyCount, getTime), found == keyCount ? "" : "MISSING")
    var countRequest = RangeRequest(key: [0], rangeEnd: [0])
    countRequest.countOnly = true
    let (counted, countTime) = try measure {
        var total: Int64 = 0
        for _ in 0..<10_000 { total &+= try view.range(countRequest).count }
        return total
    }
    print(String(format: "  count_only over all %d keys: %.3f µs per request (%lld)", keyCount,
                 countTime.cpu / 10_000 * 1e6, counted / 10_000))
    let limited = RangeRequest(key: key(keyCount / 2), rangeEnd: [0], limit: 100)
    let (_, limitTime) = try measure { for _ in 0..<10_000 { _ = try view.range(limited) } }
    print(String(format: "  range limit 100 (count of %d): %.2f µs CPU per request", keyCount / 2, limitTime.cpu / 10_000 * 1e6))
    let (_, compactTime) = try measure { try store.compact(store.currentRevision / 2) }
    print(String(format: "  compact at half (no superseded records): %.3f CPU-s", compactTime.cpu))
    let (_, exportTime) = measure { _ = store.readViews.current().export() }
    print(String(format: "  export: %.3f CPU-s", exportTime.cpu))
}
for batchSize in [1000, 10_000, 100_000] {
    _ = try storePuts(order: shuffledNumbers, batchSize: batchSize, label: "random keys")
}

print("== Watch fan-out: 10,000 watchers on one prefix")
try await watchFanOut(watcherCount: 10_000, puts: 100)

/// Writer and consumers in one task that stays off the main actor, so the numbers are the hub's
/// and not thread hops between the main actor and the pool.
nonisolated func watchFanOut(watcherCount: Int, puts: Int) async throws {
    let store = MVCCStore()
    let watchers = (0..<watcherCount).map { _ in store.watchHub.watch(WatchRequest(key: [0x70], rangeEnd: [0x71])) }
    // Without suspension the loop stays on one thread, so its thread CPU time is the cost.
    let start = DispatchTime.now().uptimeNanoseconds
    let startCPU = threadCPUSeconds()
    var delivered = 0
    for round in 0..<puts {
        _ = try store.put(PutRequest(key: [0x70, UInt8(round % 256)], value: value(round)))
        for watcher in watchers { delivered += await watcher.next()?.events.count ?? 0 }
    }
    let timing = Timing(cpu: threadCPUSeconds() - startCPU, wall: Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9)
    print("  \(puts) puts, \(delivered) events delivered:", rate(delivered, timing).replacingOccurrences(of: "ops", with: "events"))
}
