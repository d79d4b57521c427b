#if canImport(Glibc)
import Glibc
#endif
import FwdwatchCore

/// Loads the configuration file from disk.
public enum ConfigurationFile {
    /// Reads and parses `path`. When `path` is the default and does not exist, the built-in defaults
    /// apply; an explicitly named file that does not exist is an error.
    public static func load(path: String?) throws(ConfigurationError) -> Configuration {
        let file = path ?? ConfigurationParser.defaultPath
        let text: String
        switch readFile(file) {
        case .success(let contents): text = contents
        case .failure(let failure) where failure.code == ENOENT && path == nil: return .defaults
        case .failure(let failure): throw ConfigurationError(path: file, reason: String(cString: strerror(failure.code)))
        }
        return try ConfigurationParser.parse(text, path: file)
    }

    private struct Errno: Error { var code: Int32 }

    private static func readFile(_ path: String) -> Result<String, Errno> {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { return .failure(Errno(code: errno)) }
        defer { close(fd) }
        var bytes: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 65536)
        while true {
            let count = buffer.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
            if count < 0 {
                if errno == EINTR { continue }
                return .failure(Errno(code: errno))
            }
            if count == 0 { break }
            bytes.append(contentsOf: buffer[0..<count])
            if bytes.count > 1 << 20 { return .failure(Errno(code: EFBIG)) }
        }
        guard let text = String(validating: bytes, as: UTF8.self) else { return .failure(Errno(code: EILSEQ)) }
        return .success(text)
    }
}
