import Foundation

/// Debian 12's real ufw 0.36 (Python driving iptables-nft) with Debian's real Docker 20.10 on top, in namespaces
/// a test made:
///
/// - `host`: uplink `eth0` 192.0.2.10/24 (IPv6 on, as on a real host and as `RealDockerHost` has it), default
///   route via the client. ufw runs here in a private mount namespace (`MountNamespaceHolder`) where scratch
///   copies of `/etc/ufw`, `/etc/default/ufw` and `/lib/ufw` (its lock file lives there) cover the machine's,
///   so `ufw --force enable`, `ufw route ...` and `ufw reload` read and write only the copies. ufw is enabled
///   with Debian's default policies (incoming DROP, routed DROP: FORWARD policy DROP) BEFORE dockerd starts,
///   as on a host where ufw comes up at boot: ufw appends its FORWARD jumps, Docker inserts its own in front.
/// - A real dockerd (`DockerEngine`, its own mount namespace) in `host` with one container `web`
///   (`busybox httpd`, `-p 10001:80`): the recorded fixture `ufw-0.36-docker-20.10`.
/// - `client`: `eth0` 192.0.2.20/24.
///
/// `delete()` (also on deinit) stops the engine, kills the holder by PID and deletes both namespaces (ufw's
/// rules go with the host namespace) and the scratch directory.
final class UfwHost: FirewalledDockerHost, SinglePortStackHost, @unchecked Sendable {
    static let namespacePrefix = "fwt-ufw"

    static let requiredPrograms: [(path: String, package: String)] = [
        ("/usr/sbin/ufw", "ufw"), ("/lib/ufw/ufw-init", "ufw"), ("/usr/sbin/iptables", "iptables"),
        ("/usr/bin/unshare", "util-linux"), ("/usr/bin/nsenter", "util-linux"), ("/usr/bin/curl", "curl"),
    ]

    static var missingPackages: [String] { missingPrograms(requiredPrograms) + DockerEngine.missingPackages }
    static let aptPackages = "ufw docker.io busybox-static"

    /// The lines ufw-docker (github.com/chaifeng/ufw-docker) and many guides add to /etc/ufw/after.rules so
    /// that `ufw route` rules govern Docker's published ports: DOCKER-USER jumps to ufw's user forward chain.
    static let dockerHook = """
        # BEGIN UFW AND DOCKER (fwdwatch test)
        *filter
        :ufw-user-forward - [0:0]
        :DOCKER-USER - [0:0]
        -A DOCKER-USER -j ufw-user-forward
        -A DOCKER-USER -j RETURN
        COMMIT
        # END UFW AND DOCKER

        """

    init() throws {
        try Self.throwUnlessInstalled()
        try super.init(prefix: Self.namespacePrefix, directory: "/tmp/fwt-ufw-\(randomSuffix())", hostIPv6: true)
        try building(start)
    }

    deinit { delete() }

    private func start() throws {
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        try Shell.run(["cp", "-a", "/etc/ufw", directory + "/etc-ufw"])
        try Shell.run(["cp", "-a", "/lib/ufw", directory + "/lib-ufw"])
        try Shell.run(["cp", "-a", "/etc/default/ufw", directory + "/default-ufw"])
        // A pristine configuration: Debian's defaults, disabled, no user rules (as the package installs it).
        try "ENABLED=no\nLOGLEVEL=low\n".write(toFile: directory + "/etc-ufw/ufw.conf", atomically: true, encoding: .utf8)
        try holder.bind(directory + "/etc-ufw", over: "/etc/ufw")
        try holder.bind(directory + "/lib-ufw", over: "/lib/ufw")
        try holder.bind(directory + "/default-ufw", over: "/etc/default/ufw")
        try holder.inside(["ufw", "--force", "enable"])
        try startDocker()
    }

    /// Runs ufw against the scratch configuration, in the host namespace.
    @discardableResult
    func ufw(_ args: [String], check: Bool = true) throws -> ShellResult {
        try holder.inside(["ufw"] + args, check: check)
    }

    /// Appends `dockerHook` to the scratch /etc/ufw/after.rules and reloads ufw.
    func installDockerHook() throws {
        let path = directory + "/etc-ufw/after.rules"
        let rules = try String(contentsOfFile: path, encoding: .utf8)
        try (rules + "\n" + Self.dockerHook).write(toFile: path, atomically: false, encoding: .utf8)
        try ufw(["reload"])
    }

}
