import CSQLite
import Testing
import TestSupport

/// The system library links and behaves as the snapshot code will use it: a file database,
/// a transaction of blob rows, and reading them back in key order.
@Suite struct CSQLiteTests {
    @Test func writesAndReadsBlobsInAFileDatabase() throws {
        let directory = try TemporaryDirectory(prefix: "csqlite")
        defer { directory.remove() }
        var db: OpaquePointer?
        #expect(sqlite3_open(directory.appending("test.db"), &db) == SQLITE_OK)
        defer { sqlite3_close(db) }
        #expect(sqlite3_exec(db, "CREATE TABLE kv (key BLOB PRIMARY KEY, value BLOB) WITHOUT ROWID; BEGIN", nil, nil, nil) == SQLITE_OK)

        var insert: OpaquePointer?
        #expect(sqlite3_prepare_v2(db, "INSERT INTO kv VALUES (?, ?)", -1, &insert, nil) == SQLITE_OK)
        let transient = unsafeBitCast(-1, to: sqlite3_destructor_type.self)
        for i in (0..<100).reversed() {
            let key: [UInt8] = [UInt8(i), 0, 0xff]
            let value = [UInt8](repeating: UInt8(i), count: i)
            sqlite3_bind_blob(insert, 1, key, Int32(key.count), transient)
            sqlite3_bind_blob(insert, 2, value, Int32(value.count), transient)
            #expect(sqlite3_step(insert) == SQLITE_DONE)
            sqlite3_reset(insert)
        }
        sqlite3_finalize(insert)
        #expect(sqlite3_exec(db, "COMMIT", nil, nil, nil) == SQLITE_OK)

        var select: OpaquePointer?
        #expect(sqlite3_prepare_v2(db, "SELECT key, length(value) FROM kv ORDER BY key", -1, &select, nil) == SQLITE_OK)
        var seen: [Int] = []
        while sqlite3_step(select) == SQLITE_ROW {
            let firstByte = sqlite3_column_blob(select, 0).load(as: UInt8.self)
            #expect(Int(firstByte) == Int(sqlite3_column_int(select, 1)))
            seen.append(Int(firstByte))
        }
        sqlite3_finalize(select)
        #expect(seen == Array(0..<100))
    }
}
