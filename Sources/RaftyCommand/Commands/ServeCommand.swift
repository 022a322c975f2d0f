import ArgumentParser
import Foundation
import Logging
import NIOPosix
import Prometheus
import RaftCore
import Rafty
import RaftyGRPC
import RaftyKV
import ServiceLifecycle
import UnixSignals

/// `rafty serve`: one node of the replicated key-value server (gRPC for peers, HTTP for clients).
struct ServeCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "serve",
        abstract: "Run one node of the replicated key-value server until SIGINT or SIGTERM.",
        discussion: """
            A restart with the same --data-dir resumes from disk, whatever --peers and --join say. \
            With no --peers and --minimum-cluster-size 1 the node is a single-server cluster and \
            leads at once.

            To grow a running cluster, start the new node with --join and --peers naming any \
            member: it starts outside the cluster, never campaigns, and waits until it is added \
            with `rafty members add ID ADDRESS` (or POST /v1/members). It joins as a read-only member and \
            becomes a voter once it has caught up within --catch-up-timeout. With --leave-on-stop \
            a node asks the leader to remove it when it stops on SIGINT or SIGTERM.

            Between nodes, --peer-cert-file, --peer-key-file and --peer-trusted-ca-file turn on \
            mutual TLS (`rafty certs` makes a development CA and node certificates): every peer \
            connection presents a certificate the CA signed that names its node, and a message \
            whose sender is not that node is dropped. --cert-file and --key-file serve the HTTP \
            API over HTTPS; --trusted-ca-file then requires client certificates from that CA. \
            The admin routes (membership changes, leadership transfer, bootstrap) need a client \
            certificate or the bearer token of --auth-token-file; --auth-kv puts the key-value \
            routes behind the same. Plaintext and unauthenticated admin routes are allowed on \
            loopback addresses only, unless --insecure-plaintext is given.
            """
    )

    @Option(help: "This node's id: non-zero, unique in the cluster.")
    var id: UInt64

    @Option(help: "Where peers reach this node over gRPC: ip or ip:port.")
    var address = "127.0.0.1:50051"

    @Option(help: "Where the HTTP API listens: host:port.")
    var http = "127.0.0.1:8080"

    @Option(help: "The other nodes' gRPC addresses, comma-separated (repeatable).")
    var peers: [String] = []

    @Option(name: .customLong("data-dir"), help: "Where state is kept (default ./rafty-<id>.data).")
    var dataDirectory: String?

    @Flag(name: .customLong("in-memory"), help: "Keep no files: state is lost when the process ends.")
    var inMemory = false

    @Flag(
        name: .customLong("unsafe-in-memory-cluster"),
        help:
            "Allow --in-memory with --peers or --join: a restarted node comes back empty under its old id and may help elect a leader that lacks acknowledged writes."
    )
    var unsafeInMemoryCluster = false

    @Flag(name: .customLong("read-only"), help: "Replicate without voting or campaigning.")
    var readOnly = false

    @Option(name: .customLong("time-multiplier"), help: "Scales every timeout, 1...10.")
    var timeMultiplier = 1

    @Option(name: .customLong("minimum-cluster-size"), help: "Voters a fresh node must know before it campaigns.")
    var minimumClusterSize = 3

    @Flag(help: "Start outside the cluster and wait to be added (`rafty members add`); --peers names any member.")
    var join = false

    @Option(
        name: .customLong("cluster-token"),
        help: "Mixed into the id of the cluster this node forms (same on every node formed together); clusters with different tokens refuse each other.")
    var clusterToken = "rafty"

    @Flag(help: "Start outside any cluster and wait until `rafty bootstrap` (POST /v1/bootstrap) is run against one node.")
    var bootstrap = false

    @Flag(name: .customLong("leave-on-stop"), help: "On SIGINT or SIGTERM, ask the leader to remove this node first.")
    var leaveOnStop = false

    @Option(
        name: .customLong("catch-up-timeout"),
        help: ArgumentHelp("Seconds a new voter may take to catch up before it stays a read-only member (as leader).", valueName: "seconds"))
    var catchUpTimeout: Double = 10

    @Option(name: .customLong("max-append-entries"), help: "Entries per replication message, 1...100000.")
    var maxAppendEntries = 1000

    @Option(name: .customLong("snapshot-threshold"), help: "Applied entries between snapshots.")
    var snapshotThreshold: UInt64 = 10_000

    @Option(name: .customLong("trailing-logs"), help: "Entries kept behind a snapshot for slow followers.")
    var trailingLogs: UInt64 = 1_000

    @Option(name: .customLong("max-value-size"), help: "Largest value accepted, in bytes.")
    var maxValueSize = 1 << 20

    @Option(name: .customLong("log-level"), help: "trace, debug, info, notice, warning, error or critical.")
    var logLevel = "info"

    @Option(
        name: .customLong("peer-cert-file"),
        help: ArgumentHelp("This node's certificate for mutual TLS between nodes; it must name the node (URI SAN rafty://node/<id>).", valueName: "pem"))
    var peerCertFile: String?

    @Option(name: .customLong("peer-key-file"), help: ArgumentHelp("The private key of --peer-cert-file.", valueName: "pem"))
    var peerKeyFile: String?

    @Option(
        name: .customLong("peer-trusted-ca-file"),
        help: ArgumentHelp("The CA that signed every node's peer certificate.", valueName: "pem"))
    var peerTrustedCAFile: String?

    @Option(name: .customLong("cert-file"), help: ArgumentHelp("Certificate for HTTPS on --http.", valueName: "pem"))
    var certFile: String?

    @Option(name: .customLong("key-file"), help: ArgumentHelp("The private key of --cert-file.", valueName: "pem"))
    var keyFile: String?

    @Option(
        name: .customLong("trusted-ca-file"),
        help: ArgumentHelp("Require HTTPS clients to present a certificate this CA signed.", valueName: "pem"))
    var trustedCAFile: String?

    @Option(
        name: .customLong("auth-token-file"),
        help: ArgumentHelp("File holding the bearer token the admin routes require (without client certificates).", valueName: "path"))
    var authTokenFile: String?

    @Flag(name: .customLong("auth-kv"), help: "The key-value routes need the same authentication as the admin routes.")
    var authKeyValue = false

    /// The HTTP API's protection from the flags.
    func httpSecurity() throws -> KVHTTPSecurity {
        guard (self.certFile == nil) == (self.keyFile == nil) else { throw ValidationError("--cert-file and --key-file go together") }
        if self.trustedCAFile != nil, self.certFile == nil {
            throw ValidationError("--trusted-ca-file needs --cert-file and --key-file (client certificates are checked over HTTPS)")
        }
        var token: String?
        if let path = self.authTokenFile {
            guard let data = FileManager.default.contents(atPath: path) else { throw ValidationError("cannot read --auth-token-file \(path)") }
            let text = String(decoding: data, as: UTF8.self).filter { !$0.isNewline }.trimmed
            guard text.count >= 16 else { throw ValidationError("--auth-token-file \(path): the token must have at least 16 characters") }
            token = text
        }
        let security = KVHTTPSecurity(
            certificateFile: self.certFile, privateKeyFile: self.keyFile, trustedCAFile: self.trustedCAFile, authToken: token,
            protectKeyValue: self.authKeyValue)
        if self.authKeyValue, !security.authenticatesAdmin {
            throw ValidationError("--auth-kv needs --trusted-ca-file or --auth-token-file")
        }
        return security
    }

    @Flag(
        name: .customLong("insecure-plaintext"),
        help: "Allow plaintext on non-loopback addresses: whoever reaches the ports is a peer and an administrator.")
    var insecurePlaintext = false

    /// Peer TLS from the three flags (all or none), checked against --id.
    func peerTLS() throws -> PeerTLS? {
        switch (self.peerCertFile, self.peerKeyFile, self.peerTrustedCAFile) {
        case (nil, nil, nil):
            return nil
        case (let certificate?, let key?, let authority?):
            let tls = PeerTLS(certificateChainFile: certificate, privateKeyFile: key, trustedCAFile: authority)
            let id: UInt64
            do {
                id = try tls.nodeID()
            } catch {
                throw ValidationError(error.message)
            }
            guard id == self.id else {
                throw ValidationError("--peer-cert-file: the certificate names node \(id), not node \(self.id)")
            }
            return tls
        default:
            throw ValidationError("--peer-cert-file, --peer-key-file and --peer-trusted-ca-file go together")
        }
    }

    /// Plaintext only on loopback, unless --insecure-plaintext.
    func checkPlaintext(peerTLS: PeerTLS?, http: PeerAddress, security: KVHTTPSecurity) throws {
        guard !self.insecurePlaintext else { return }
        let grpc = try PeerAddress(option: "--address", self.address, defaultPort: PeerAddress.defaultPort)
        if peerTLS == nil, !grpc.isLoopback {
            throw ValidationError(
                "--address \(self.address) is not a loopback address: give --peer-cert-file, --peer-key-file and "
                    + "--peer-trusted-ca-file (mutual TLS between nodes), or --insecure-plaintext")
        }
        if !http.isLoopback, !security.isTLS || !security.authenticatesAdmin {
            throw ValidationError(
                "--http \(self.http) is not a loopback address: give --cert-file and --key-file (HTTPS) and --trusted-ca-file "
                    + "or --auth-token-file (authenticated admin routes), or --insecure-plaintext")
        }
    }

    /// Room in a peer message for everything but one value: its key (at most 1 KiB), the entry's
    /// and the message's framing.
    static let messageOverhead = 64 << 10

    /// The node configuration the flags describe.
    func nodeConfiguration(logger: Logger) throws -> RaftNode.Configuration {
        var configuration = RaftNode.Configuration(id: self.id)
        configuration.address = self.address
        configuration.peers = self.peers.flatMap { $0.split(separator: ",").map { String($0).trimmed } }.filter { !$0.isEmpty }
        // Persistent by default (not under the temporary directory, which reboots and cleaners empty).
        configuration.dataDirectory = self.dataDirectory ?? "./rafty-\(self.id).data"
        configuration.persistDataOnDisk = !self.inMemory
        if self.inMemory, !configuration.peers.isEmpty || self.join, !self.unsafeInMemoryCluster {
            throw ValidationError(
                "--in-memory with --peers or --join loses every acknowledged write this node held when it restarts, "
                    + "and it rejoins under its old id with an empty log: give --unsafe-in-memory-cluster to run it anyway")
        }
        configuration.isVoter = !self.readOnly
        configuration.timeMultiplier = self.timeMultiplier
        configuration.minimumClusterSize = self.minimumClusterSize
        configuration.clusterToken = self.clusterToken
        configuration.maxAppendEntries = self.maxAppendEntries
        configuration.snapshotThreshold = self.snapshotThreshold
        configuration.trailingLogs = self.trailingLogs
        if self.bootstrap, self.join { throw ValidationError("--bootstrap and --join exclude each other") }
        configuration.startMode = self.join ? .join : self.bootstrap ? .awaitBootstrap : .form
        if self.join, configuration.peers.isEmpty {
            throw ValidationError("--join needs --peers naming at least one member of the cluster")
        }
        configuration.leaveOnStop = self.leaveOnStop
        guard self.catchUpTimeout.isFinite, self.catchUpTimeout > 0, self.catchUpTimeout <= 86_400 else {
            throw ValidationError("--catch-up-timeout must be a positive number of seconds")
        }
        configuration.memberCatchUpTimeout = .nanoseconds(Int64(self.catchUpTimeout * 1_000_000_000))
        configuration.logger = logger
        do {
            try configuration.validate()
        } catch {
            throw ValidationError(error.message)
        }
        return configuration
    }

    func validate() throws {
        _ = try self.nodeConfiguration(logger: Logger(label: "rafty"))
        let http = try PeerAddress(option: "--http", self.http)
        try self.checkPlaintext(peerTLS: try self.peerTLS(), http: http, security: try self.httpSecurity())
        guard self.maxValueSize >= 1 else { throw ValidationError("--max-value-size must be at least 1") }
        // A value must fit in one peer message with its key and framing, or it would commit on the
        // leader and never reach a follower.
        let transportLimit = GRPCTransport.Configuration().maxMessageBytes - Self.messageOverhead
        guard self.maxValueSize <= transportLimit else {
            throw ValidationError("--max-value-size must be at most \(transportLimit) bytes (the peer transport's message limit less keys and framing)")
        }
        guard Logger.Level(rawValue: self.logLevel) != nil else {
            throw ValidationError("--log-level must be trace, debug, info, notice, warning, error or critical")
        }
    }

    func run() async throws {
        var logger = Logger(label: "rafty") { StreamLogHandler.standardError(label: $0) }
        logger.logLevel = Logger.Level(rawValue: self.logLevel) ?? .info
        var configuration = try self.nodeConfiguration(logger: logger)
        let registry = PrometheusCollectorRegistry()
        configuration.metricsFactory = PrometheusMetricsFactory(registry: registry)
        var transportConfiguration = GRPCTransport.Configuration()
        transportConfiguration.unaryTimeout = transportConfiguration.unaryTimeout * self.timeMultiplier
        transportConfiguration.tls = try self.peerTLS()
        transportConfiguration.logger = logger
        // The peer connections get an event loop of their own; the node's tasks, the HTTP
        // connections and their handlers run on it too (below): fewer thread hand-offs per message
        // (GRPCTransport.taskExecutor, KVHTTPServer's eventLoopGroup).
        // It lives as long as the process: it is not shut down.
        let peerLoop = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        transportConfiguration.eventLoopGroup = peerLoop
        let transport = GRPCTransport(configuration: transportConfiguration)
        defer { transport.close() }
        var limits = KVLimits()
        limits.maxValueBytes = self.maxValueSize
        let store = KVStore()
        let node = try RaftNode(configuration: configuration, stateMachine: store, transport: transport)
        let http = try PeerAddress(option: "--http", self.http)
        // A membership change may take the whole catch-up timeout and then some.
        let membershipTimeout = max(.seconds(30), configuration.memberCatchUpTimeout + .seconds(10))
        let server = KVHTTPServer(
            node: node, limits: limits, host: http.hostText, port: http.port, registry: registry,
            membershipTimeout: membershipTimeout, security: try self.httpSecurity(), logger: logger, eventLoopGroup: peerLoop)
        logger.info(
            "starting",
            metadata: [
                "id": "\(self.id)", "grpc": "\(node.status.address)", "http": "\(self.http)",
                "data": "\(self.inMemory ? "in memory" : configuration.resolvedDataDirectory)",
            ])
        // Services stop in reverse order: the HTTP API first, then the node (a leader hands over).
        let group = ServiceGroup(
            configuration: ServiceGroupConfiguration(
                services: [
                    // A node that stops by itself (removed from the cluster) ends the process cleanly.
                    .init(service: node, successTerminationBehavior: .gracefullyShutdownGroup),
                    .init(service: server),
                ],
                gracefulShutdownSignals: [.sigterm, .sigint],
                logger: logger))
        try await withTaskExecutorPreference(transport.taskExecutor) { try await group.run() }
    }
}

extension PeerAddress {
    /// The address given to a command-line option, or a usage error naming the option.
    init(option: String, _ text: String, defaultPort: Int? = nil) throws {
        do {
            try self.init(parsing: text, defaultPort: defaultPort)
        } catch {
            throw ValidationError("\(option): \(error.message)")
        }
    }
}

extension String {
    /// Without surrounding spaces.
    var trimmed: String {
        String(self.drop { $0 == " " }.reversed().drop { $0 == " " }.reversed())
    }
}
