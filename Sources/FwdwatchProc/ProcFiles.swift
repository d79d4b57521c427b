#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// Plain POSIX access to small proc files: `openat`/`read`/`close` and `opendir`/`readdir`.
enum ProcFiles {
    /// The outcome of reading one file.
    enum Read {
        case text(String)
        /// ENOENT, ENODEV or ENOTDIR: the file, or the interface it belongs to, does not exist (any more).
        case missing
        /// Any other failure, with its errno.
        case failed(Int32)
    }

    /// The outcome of opening a directory.
    enum Directory {
        case opened(Int32)
        case missing
        case failed(Int32)
    }

    /// Files larger than this are cut: every file the reader wants is far smaller.
    static let sizeLimit = 1 << 20
    /// One `read(2)` at a time; sysctl values and /proc/net/snmp fit.
    static let chunkSize = 4096

    /// Reads the whole file `name`, relative to the directory `directoryFD` (or absolute with `AT_FDCWD`).
    ///
    /// - Parameter shortReadEnds: take a read shorter than the buffer as the end of the file, saving the
    ///   second `read` that would return 0. True for sysctl values: the kernel formats a sysctl in one
    ///   call, and a regular file (a recorded tree) only reads short at its end.
    static func read(_ name: String, in directoryFD: Int32 = AT_FDCWD, shortReadEnds: Bool = false) -> Read {
        let fd = openat(directoryFD, name, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { return classify(errno) }
        defer { close(fd) }
        return withUnsafeTemporaryAllocation(of: UInt8.self, capacity: chunkSize) { chunk in
            var bytes: [UInt8] = []
            while bytes.count < sizeLimit {
                let count = systemRead(fd, chunk.baseAddress, chunk.count)
                if count == 0 { break }
                if count < 0 {
                    if errno == EINTR { continue }
                    return classify(errno)
                }
                bytes.append(contentsOf: UnsafeBufferPointer(rebasing: chunk[0..<count]))
                if shortReadEnds && count < chunk.count { break }
            }
            return .text(String(decoding: bytes, as: UTF8.self))
        }
    }

    /// Opens `name` (relative to `directoryFD`) as a directory.
    static func openDirectory(_ name: String, in directoryFD: Int32 = AT_FDCWD) -> Directory {
        let fd = openat(directoryFD, name, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        guard fd >= 0 else {
            let code = errno
            return isMissing(code) ? .missing : .failed(code)
        }
        return .opened(fd)
    }

    /// Whether `name` (relative to `directoryFD`) exists.
    static func exists(_ name: String, in directoryFD: Int32 = AT_FDCWD) -> Bool {
        faccessat(directoryFD, name, F_OK, 0) == 0
    }

    /// The names in the directory open at `directoryFD`, without `.` and `..`. Does not close `directoryFD`.
    static func entries(of directoryFD: Int32) -> Result<[String], ProcFilesFailure> {
        let copy = dup(directoryFD)
        guard copy >= 0 else { return .failure(ProcFilesFailure(errno: errno)) }
        guard let directory = fdopendir(copy) else {
            let code = errno
            close(copy)
            return .failure(ProcFilesFailure(errno: code))
        }
        defer { closedir(directory) }
        rewinddir(directory)
        var names: [String] = []
        while true {
            errno = 0
            guard let entry = readdir(directory) else {
                if errno != 0 { return .failure(ProcFilesFailure(errno: errno)) }
                break
            }
            let name = withUnsafeBytes(of: entry.pointee.d_name) { raw in
                String(decoding: raw.prefix(while: { $0 != 0 }), as: UTF8.self)
            }
            if name != "." && name != ".." { names.append(name) }
        }
        return .success(names)
    }

    static func isMissing(_ code: Int32) -> Bool {
        code == ENOENT || code == ENODEV || code == ENOTDIR
    }

    private static func classify(_ code: Int32) -> Read {
        isMissing(code) ? .missing : .failed(code)
    }
}

/// An errno from a directory listing.
struct ProcFilesFailure: Error {
    var errno: Int32
}

/// `read(2)`, named apart from the `read` methods around it.
@inline(__always)
private func systemRead(_ fd: Int32, _ buffer: UnsafeMutableRawPointer?, _ count: Int) -> Int {
    #if canImport(Glibc)
    return Glibc.read(fd, buffer, count)
    #elseif canImport(Musl)
    return Musl.read(fd, buffer, count)
    #else
    return Darwin.read(fd, buffer, count)
    #endif
}
