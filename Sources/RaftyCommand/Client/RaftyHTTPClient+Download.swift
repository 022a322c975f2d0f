internal import AsyncHTTPClient
internal import Foundation
internal import NIOCore
internal import NIOHTTP1

extension RaftyHTTPClient {
    /// How long a download (a whole snapshot) may take.
    static let downloadTimeout: Duration = .seconds(600)

    /// GETs `target` from the first endpoint that serves it (moving on like a read: after
    /// connection failures, 503 and 429) and streams the body into `path`, durably (a temporary
    /// file, fsync, rename). Returns the endpoint and the number of bytes.
    func download(_ target: String, to path: String) async throws(RaftyClientError) -> (endpoint: String, bytes: Int) {
        var attempts: [RaftyClientError.Attempt] = []
        for endpoint in self.endpoints {
            var request = HTTPClientRequest(url: endpoint + target)
            if let token = self.token { request.headers.add(name: "Authorization", value: "Bearer \(token)") }
            let response: HTTPClientResponse
            do {
                response = try await self.http.execute(request, timeout: TimeAmount(Self.downloadTimeout))
            } catch {
                attempts.append(.init(endpoint: endpoint, reason: TransportFailure(error).reason))
                continue
            }
            guard response.status == .ok else {
                let body = (try? await response.body.collect(upTo: 1 << 20)).map { Array($0.readableBytesView) } ?? []
                let answer = APIResponse(endpoint: endpoint, status: Int(response.status.code), body: body)
                if answer.status == 503 || answer.status == 429 {
                    attempts.append(.init(endpoint: endpoint, reason: "\(answer.status)"))
                    continue
                }
                throw answer.serverError
            }
            do {
                return (endpoint, try await Self.write(response.body, to: path))
            } catch {
                attempts.append(.init(endpoint: endpoint, reason: "the download broke off: \(error)"))
            }
        }
        throw .unavailable(attempts)
    }

    private static func write(_ body: HTTPClientResponse.Body, to path: String) async throws -> Int {
        let temporary = path + ".tmp"
        guard FileManager.default.createFile(atPath: temporary, contents: nil, attributes: [.posixPermissions: 0o600]),
            let file = FileHandle(forWritingAtPath: temporary)
        else {
            throw RaftyClientError.input("cannot create \(temporary)")
        }
        var total = 0
        do {
            for try await buffer in body {
                file.write(Data(buffer.readableBytesView))
                total += buffer.readableBytes
            }
            try file.synchronize()
            try file.close()
            if FileManager.default.fileExists(atPath: path) { try FileManager.default.removeItem(atPath: path) }
            try FileManager.default.moveItem(atPath: temporary, toPath: path)
        } catch {
            try? file.close()
            try? FileManager.default.removeItem(atPath: temporary)
            throw error
        }
        return total
    }
}
