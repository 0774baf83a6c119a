// The BIO between OpenSSL and a session: reads come from the caller's buffer, unread bytes
// are kept for the next call, writes are handed back whole.
import COpenSSL
import Testing
@testable import TLS

@Suite struct RecordTransportTests {
    @Test func unreadInputIsKeptInOrderAndOutputIsHandedBack() throws {
        let transport = RecordTransport()
        let bio = try #require(transport.makeBIO())
        defer { BIO_free(bio) }
        var buffer = [UInt8](repeating: 0, count: 16)

        let first: [UInt8] = [1, 2, 3, 4, 5]
        let readFirst = first.withUnsafeBytes { bytes in
            transport.reading(bytes) { BIO_read(bio, &buffer, 2) }
        }
        #expect(readFirst == 2)
        #expect(Array(buffer[0..<2]) == [1, 2])
        #expect(transport.unreadCount == 3)
        #expect(BIO_ctrl_pending(bio) == 3)

        let second: [UInt8] = [6, 7]
        let readAll = second.withUnsafeBytes { bytes in
            transport.reading(bytes) { () -> [UInt8] in
                var all: [UInt8] = []
                while true {
                    let n = BIO_read(bio, &buffer, Int32(buffer.count))
                    if n <= 0 { break }
                    all += buffer[0..<Int(n)]
                }
                return all
            }
        }
        #expect(readAll == [3, 4, 5, 6, 7])
        #expect(transport.unreadCount == 0)
        // Empty means "try again later", not end of file.
        #expect(BIO_test_flags(bio, BIO_FLAGS_SHOULD_RETRY) != 0)

        _ = BIO_write(bio, "abc", 3)
        _ = BIO_write(bio, "de", 2)
        #expect(BIO_ctrl(bio, BIO_CTRL_FLUSH, 0, nil) == 1)
        #expect(transport.takeOutput() == Array("abcde".utf8))
        #expect(transport.takeOutput().isEmpty)
    }
}
