import Foundation

enum HTTPMethod: String {
    case get = "GET"
    case post = "POST"
    case put = "PUT"
    case delete = "DELETE"
}

enum APIError: Error, CustomStringConvertible {
    case invalidURL(String)
    case transport(Error)
    case status(code: Int, body: Data?)
    case decoding(DecodingError)

    var description: String {
        switch self {
        case .invalidURL(let path):
            return "invalid URL for path \(path)"
        case .transport(let error):
            return "transport error: \(error.localizedDescription)"
        case let .status(code, body):
            let text = body.flatMap { String(data: $0, encoding: .utf8) } ?? ""
            return "unexpected status \(code): \(text.prefix(200))"
        case .decoding(let error):
            return "could not decode response: \(error)"
        }
    }

    var isRetryable: Bool {
        switch self {
        case .transport:
            return true
        case .status(let code, _) where code == 429 || (500...599).contains(code):
            return true
        default:
            return false
        }
    }
}

protocol Endpoint {
    associatedtype Response: Decodable
    var path: String { get }
    var method: HTTPMethod { get }
    var query: [String: String] { get }
}

extension Endpoint {
    var method: HTTPMethod { .get }
    var query: [String: String] { [:] }
}

struct Repository: Decodable, Identifiable, Hashable {
    let id: Int
    let name: String
    let fullName: String
    let stargazersCount: Int
    let description: String?
}

struct ListRepositories: Endpoint {
    typealias Response = [Repository]
    let owner: String
    var perPage = 30

    var path: String { "/users/\(owner)/repos" }
    var query: [String: String] { ["per_page": String(perPage), "sort": "updated"] }
}

final class APIClient {
    private let baseURL: URL
    private let session: URLSession
    private let decoder: JSONDecoder
    private let maxRetries: Int

    init(baseURL: URL, session: URLSession = .shared, maxRetries: Int = 2) {
        self.baseURL = baseURL
        self.session = session
        self.maxRetries = maxRetries
        decoder = JSONDecoder()
        decoder.keyDecodingStrategy = .convertFromSnakeCase
    }

    func request<E: Endpoint>(_ endpoint: E) async throws -> E.Response {
        guard var components = URLComponents(url: baseURL.appendingPathComponent(endpoint.path),
                                              resolvingAgainstBaseURL: false) else {
            throw APIError.invalidURL(endpoint.path)
        }
        if !endpoint.query.isEmpty {
            components.queryItems = endpoint.query
                .sorted { $0.key < $1.key }
                .map { URLQueryItem(name: $0.key, value: $0.value) }
        }
        guard let url = components.url else { throw APIError.invalidURL(endpoint.path) }

        var request = URLRequest(url: url)
        request.httpMethod = endpoint.method.rawValue
        request.setValue("application/json", forHTTPHeaderField: "Accept")

        var attempt = 0
        while true {
            do {
                return try await perform(request, as: E.Response.self)
            } catch let error as APIError where error.isRetryable && attempt < maxRetries {
                attempt += 1
                let delay = UInt64(pow(2.0, Double(attempt)) * 250_000_000)
                try await Task.sleep(nanoseconds: delay)
            }
        }
    }

    private func perform<T: Decodable>(_ request: URLRequest, as type: T.Type) async throws -> T {
        let data: Data
        let response: URLResponse
        do {
            (data, response) = try await session.data(for: request)
        } catch {
            throw APIError.transport(error)
        }
        if let http = response as? HTTPURLResponse, !(200..<300).contains(http.statusCode) {
            throw APIError.status(code: http.statusCode, body: data)
        }
        do {
            return try decoder.decode(T.self, from: data)
        } catch let error as DecodingError {
            throw APIError.decoding(error)
        }
    }
}

@main
struct RepoLister {
    static func main() async {
        let owner = CommandLine.arguments.dropFirst().first ?? "apple"
        let client = APIClient(baseURL: URL(string: "https://api.github.com")!)
        do {
            let repos = try await client.request(ListRepositories(owner: owner, perPage: 10))
            for repo in repos.sorted(by: { $0.stargazersCount > $1.stargazersCount }) {
                let stars = String(repo.stargazersCount).padding(toLength: 7, withPad: " ", startingAt: 0)
                print("\(stars) \(repo.fullName)  \(repo.description ?? "-")")
            }
        } catch {
            FileHandle.standardError.write(Data("error: \(error)\n".utf8))
            exit(1)
        }
    }
}
