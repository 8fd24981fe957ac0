/*
 * persist.cpp — atomic write and checked read of persisted JWKS files.
 */
#include "pg/keys/persist.h"

#include <cerrno>
#include <cstring>

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

namespace dbx_oauth::pg {

namespace {

constexpr const char *kDirName = "dbx_oauth";

std::string errno_text(const std::string &what, const std::string &path) {
    return "could not " + what + " \"" + path + "\": " + strerror(errno);
}

/* Closes the descriptor on every path out. */
struct Fd {
    int fd = -1;
    explicit Fd(int f) : fd(f) {}
    ~Fd() {
        if (fd >= 0)
            close(fd);
    }
    Fd(const Fd &) = delete;
    Fd &operator=(const Fd &) = delete;
};

bool write_all(int fd, const std::string &data) {
    size_t done = 0;
    while (done < data.size()) {
        ssize_t n = write(fd, data.data() + done, data.size() - done);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return false;
        done += static_cast<size_t>(n);
    }
    return true;
}

bool fsync_path(const std::string &path, int flags, std::string *error) {
    Fd f(open(path.c_str(), flags));
    if (f.fd < 0 || fsync(f.fd) != 0) {
        *error = errno_text("fsync", path);
        return false;
    }
    return true;
}

}  // namespace

std::string persisted_keys_path(const std::string &data_dir, const std::string &issuer) {
    return data_dir + "/" + kDirName + "/" + core::persisted_keys_file_name(issuer);
}

bool persist_keys_save(const std::string &data_dir, const std::string &issuer,
                       const std::string &jwks_json, int64_t fetched_at_unix, std::string *error) {
    const std::string dir = data_dir + "/" + kDirName;
    if (mkdir(dir.c_str(), S_IRWXU) != 0 && errno != EEXIST) {
        *error = errno_text("create directory", dir);
        return false;
    }
    const std::string path = persisted_keys_path(data_dir, issuer);
    const std::string tmp = path + ".tmp";
    const std::string content = core::encode_persisted_keys(issuer, jwks_json, fetched_at_unix);
    {
        Fd f(open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, S_IRUSR | S_IWUSR));
        if (f.fd < 0) {
            *error = errno_text("create file", tmp);
            return false;
        }
        if (!write_all(f.fd, content)) {
            *error = errno_text("write file", tmp);
            unlink(tmp.c_str());
            return false;
        }
        /* Data must be durable before the rename makes it the file. */
        if (fsync(f.fd) != 0) {
            *error = errno_text("fsync", tmp);
            unlink(tmp.c_str());
            return false;
        }
    }
    if (rename(tmp.c_str(), path.c_str()) != 0) {
        *error = errno_text("rename file", tmp);
        unlink(tmp.c_str());
        return false;
    }
    /* And the rename itself must survive a crash. */
    return fsync_path(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC, error);
}

core::PersistedKeys persist_keys_load(const std::string &data_dir, const std::string &issuer,
                                      size_t max_jwks_bytes) {
    core::PersistedKeys out;
    const std::string path = persisted_keys_path(data_dir, issuer);
    Fd f(open(path.c_str(), O_RDONLY | O_CLOEXEC));
    if (f.fd < 0) {
        if (errno != ENOENT)
            out.error = errno_text("open file", path);
        return out;
    }
    std::string content;
    char buf[8192];
    for (;;) {
        ssize_t n = read(f.fd, buf, sizeof buf);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            out.error = errno_text("read file", path);
            return out;
        }
        if (n == 0)
            break;
        content.append(buf, static_cast<size_t>(n));
        if (content.size() > kMaxPersistedFileBytes) {
            out.error = "file \"" + path + "\" is larger than " +
                        std::to_string(kMaxPersistedFileBytes) + " bytes";
            return out;
        }
    }
    out = core::decode_persisted_keys(content, issuer, max_jwks_bytes);
    if (!out.ok)
        out.error = "file \"" + path + "\": " + out.error;
    return out;
}

}  // namespace dbx_oauth::pg
