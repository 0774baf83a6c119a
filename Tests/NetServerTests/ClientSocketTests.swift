import Testing
import Foundation
import Dispatch
@testable import NetServer

/// Records readiness of a descriptor watched through the public `EventLoop.watch`. Touched on
/// the loop's queue only.
private final class Watcher: DescriptorHandler, @unchecked Sendable {
    var readable = 0
    var writable = 0
    func descriptorReady(readable r: Bool, writable w: Bool) {
        if r { readable += 1 }
        if w { writable += 1 }
    }
}

@Suite struct ClientSocketTests {
    private func waitUntil(_ loop: EventLoop, timeout: Double = 2, _ condition: @escaping @Sendable () -> Bool) -> Bool {
        let deadline = Date().addingTimeInterval(timeout)
        while Date() < deadline {
            if loop.queue.sync(execute: condition) { return true }
            usleep(5_000)
        }
        return false
    }

    @Test func nonBlockingConnectOnAStandaloneLoop() throws {
        let loop = EventLoop.standalone()
        defer { loop.stopStandalone() }
        let listener = try Socket.listen(host: "127.0.0.1", port: 0)
        defer { close(listener.fd) }
        let addresses = try ClientSocket.resolve(host: "127.0.0.1", port: listener.port)
        #expect(addresses.map(\.description) == ["127.0.0.1:\(listener.port)"])
        let (fd, _) = try ClientSocket.connect(to: addresses[0])
        defer { close(fd) }
        let watcher = Watcher()
        #expect(loop.queue.sync { loop.watch(fd, watcher) } == 0)
        loop.queue.sync { loop.watchWritable(fd, true) }
        #expect(waitUntil(loop) { watcher.writable > 0 })
        #expect(ClientSocket.pendingError(fd) == 0)
        loop.queue.sync {
            loop.watchWritable(fd, false)
            loop.unwatch(fd)
        }
        #expect(loop.queue.sync { loop.isCurrent })
        #expect(!loop.isCurrent)
    }

    @Test func refusedConnectIsReportedThroughSOError() throws {
        let loop = EventLoop.standalone()
        defer { loop.stopStandalone() }
        // A port nobody listens on: bind, note the port, close.
        let l = try Socket.listen(host: "127.0.0.1", port: 0)
        close(l.fd)
        let address = try ClientSocket.resolve(host: "127.0.0.1", port: l.port)[0]
        do {
            let (fd, inProgress) = try ClientSocket.connect(to: address)
            defer { close(fd) }
            #expect(inProgress)
            let watcher = Watcher()
            #expect(loop.queue.sync { loop.watch(fd, watcher) } == 0)
            loop.queue.sync { loop.watchWritable(fd, true) }
            #expect(waitUntil(loop) { watcher.readable > 0 || watcher.writable > 0 })
            #expect(ClientSocket.pendingError(fd) == ECONNREFUSED)
            loop.queue.sync { loop.unwatch(fd) }
        } catch {
            // Loopback may refuse at once instead of in progress.
            #expect(error.errno == ECONNREFUSED)
        }
    }

    @Test func resolveFailsClearly() {
        #expect(throws: SocketError.self) { try ClientSocket.resolve(host: "no-such-host.invalid", port: 1) }
    }
}
