"""The processes a benchmark run needs, and nothing else.

Everything here starts on loopback, on a free port, as the unprivileged
run user (initdb and pgbouncer refuse root), and is stopped by pid by the
`Processes` registry when the run ends, however it ends.
"""
import os
import pwd
import shutil
import signal
import socket
import subprocess
import tempfile
import time

# The major version a run measures: 15 on the host; bench/run sets
# DBX_BENCH_PG inside the scripts/pg-chroot chroots of the other versions.
PG_VERSION = os.environ.get("DBX_BENCH_PG", "15")
PG_BIN = f"/usr/lib/postgresql/{PG_VERSION}/bin"


class BenchError(Exception):
    """A step that cannot continue; the figure (or the run) reports it."""


def log(msg):
    print(f"[bench {time.strftime('%H:%M:%S')}] {msg}", flush=True)


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class RunUser:
    """Runs commands as the cluster's OS user: runuser when we are root."""

    def __init__(self):
        self.is_root = os.geteuid() == 0
        if self.is_root:
            self.name = os.environ.get("DBX_OAUTH_TEST_USER", "postgres")
            try:
                pwd.getpwnam(self.name)
            except KeyError:
                subprocess.run(["useradd", "--system", "--create-home", self.name], check=True)
        else:
            self.name = pwd.getpwuid(os.geteuid()).pw_name
        self.sudo = [] if self.is_root else (["sudo"] if shutil.which("sudo") else [])

    def argv(self, argv, home=None):
        if not self.is_root:
            return list(argv)
        env = [f"PATH={PG_BIN}:/usr/sbin:/usr/bin:/bin"]
        if home:
            env.append(f"HOME={home}")
        return ["runuser", "-u", self.name, "--", "env", *env, *argv]

    def run(self, argv, check=True, capture=True, timeout=300, home=None, **kw):
        cp = subprocess.run(self.argv(argv, home), capture_output=capture, text=True,
                            timeout=timeout, **kw)
        if check and cp.returncode != 0:
            raise BenchError(f"command failed ({cp.returncode}): {' '.join(argv[:4])}...\n"
                             f"{(cp.stderr or '')[-2000:]}{(cp.stdout or '')[-1000:]}")
        return cp

    def make_dir(self, path):
        os.makedirs(path, exist_ok=True)
        os.chmod(path, 0o755)
        if self.is_root:
            shutil.chown(path, self.name)

    def write_file(self, path, text, mode=0o644):
        with open(path, "w") as f:
            f.write(text)
        os.chmod(path, mode)
        if self.is_root:
            shutil.chown(path, self.name)


class Processes:
    """Everything started by this run, stopped in reverse order."""

    def __init__(self):
        self.stoppers = []

    def add(self, name, stop):
        self.stoppers.append((name, stop))

    def stop_all(self):
        while self.stoppers:
            name, stop = self.stoppers.pop()
            try:
                stop()
            except Exception as e:  # keep stopping the rest
                log(f"stopping {name}: {e}")


def pid_alive(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:  # a zombie is not alive
        with open(f"/proc/{pid}/stat") as f:
            return f.read().split(")")[-1].split()[0] != "Z"
    except OSError:
        return False


def stop_pid(pid, sig=signal.SIGTERM, wait=15.0):
    if not pid or not pid_alive(pid):
        return
    os.kill(pid, sig)
    end = time.time() + wait
    while time.time() < end and pid_alive(pid):
        time.sleep(0.05)
    if pid_alive(pid):
        os.kill(pid, signal.SIGKILL)


class Workspace:
    """The fake Databricks workspace (test/fixtures/workspace)."""

    def __init__(self, root, user, procs, rundir):
        self.root, self.user, self.dir = root, user, rundir
        self.cli = os.path.join(root, "test/fixtures/workspace")
        user.run([self.cli, "start", "--dir", rundir], timeout=120)
        procs.add("fake workspace", self.stop)
        self.issuer = self.read("issuer")
        self.workspace_id = self.read("workspace_id")
        self.ca_file = os.path.join(rundir, "ca.pem")
        self.key_dir = os.path.join(rundir, "keys")

    def read(self, name):
        with open(os.path.join(self.dir, name)) as f:
            return f.read().strip()

    def stop(self):
        self.user.run([self.cli, "stop", "--dir", self.dir], check=False, timeout=60)


class Cluster:
    """One PostgreSQL cluster (PG_VERSION) with dbx_oauth preloaded."""

    def __init__(self, user, procs, base, conf, hba):
        self.user, self.base = user, base
        self.data = os.path.join(base, "data")
        self.sockdir = base
        self.port = free_port()
        self.logfile = os.path.join(base, "server.log")
        user.run([f"{PG_BIN}/initdb", "-D", self.data, "-A", "trust", "-U", user.name,
                  "--no-sync", "-E", "UTF8", "--locale", "C"], timeout=180)
        user.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout",
                  f"{self.data}/server.key", "-out", f"{self.data}/server.crt",
                  "-subj", "/CN=127.0.0.1", "-days", "2"], timeout=60)
        user.run(["chmod", "600", f"{self.data}/server.key"])
        with open(os.path.join(self.data, "postgresql.conf"), "a") as f:
            f.write(f"\nport = {self.port}\nlisten_addresses = '127.0.0.1'\n"
                    f"unix_socket_directories = '{self.sockdir}'\nssl = on\n{conf}\n")
        user.write_file(os.path.join(self.data, "pg_hba.conf"), hba, 0o600)
        user.run([f"{PG_BIN}/pg_ctl", "-D", self.data, "-l", self.logfile, "-w", "-t", "120",
                  "start"], timeout=180)
        procs.add("postgres", self.stop)
        with open(os.path.join(self.data, "postmaster.pid")) as f:
            self.pid = int(f.readline())

    def stop(self):
        self.user.run([f"{PG_BIN}/pg_ctl", "-D", self.data, "-m", "fast", "-w", "-t", "60",
                       "stop"], check=False, timeout=90)
        stop_pid(self.pid)

    def restart(self):
        """For postmaster-level settings (ALTER SYSTEM first)."""
        self.user.run([f"{PG_BIN}/pg_ctl", "-D", self.data, "-l", self.logfile, "-m", "fast",
                       "-w", "-t", "120", "restart"], timeout=180)
        with open(os.path.join(self.data, "postmaster.pid")) as f:
            self.pid = int(f.readline())

    def env(self, user=None, password=None, tcp=False, db="bench"):
        """libpq environment for a client of this cluster."""
        e = {k: v for k, v in os.environ.items() if not k.startswith("PG")}
        e.update(PGHOST="127.0.0.1" if tcp else self.sockdir, PGPORT=str(self.port),
                 PGDATABASE=db, PGUSER=user or self.user.name,
                 PGSSLMODE="require" if tcp else "disable", PGGSSENCMODE="disable",
                 PGAPPNAME="dbx_oauth_bench", PGCONNECT_TIMEOUT="20")
        if password is not None:
            e["PGPASSWORD"] = password
        return e

    def conninfo(self, user=None, password=None, tcp=False, db="bench"):
        host = "127.0.0.1" if tcp else self.sockdir
        parts = [f"host={host}", f"port={self.port}", f"dbname={db}",
                 f"user='{user or self.user.name}'",
                 f"sslmode={'require' if tcp else 'disable'}", "gssencmode=disable"]
        if password is not None:
            parts.append(f"password='{password}'")
        return " ".join(parts)

    def psql(self, sql, db="bench", user=None, password=None, variables=None, timeout=600,
             check=True):
        argv = ["psql", "-X", "-q", "-A", "-t", "-v", "ON_ERROR_STOP=1"]
        for k, v in (variables or {}).items():
            argv += ["-v", f"{k}={v}"]
        cp = subprocess.run(argv, input=sql, capture_output=True, text=True, timeout=timeout,
                            env=self.env(user=user, password=password, db=db))
        if check and cp.returncode != 0:
            raise BenchError(f"psql failed: {cp.stderr.strip()[-1500:]}")
        return cp.stdout

    def query(self, sql, db="bench"):
        return self.psql(sql, db=db).strip()

    def has_function(self, qualified_name):
        return self.query(f"SELECT to_regproc('{qualified_name}') IS NOT NULL") == "t"

    def reload_setting(self, name, value):
        """ALTER SYSTEM + reload, then wait until new sessions see the value."""
        self.psql(f"ALTER SYSTEM SET {name} = '{value}'; SELECT pg_reload_conf();", db="postgres")
        for _ in range(100):
            if self.query(f"SHOW {name}", db="postgres") == str(value):
                return
            time.sleep(0.05)
        raise BenchError(f"{name} did not change to {value}")


class PgBouncer:
    """PgBouncer in transaction mode, one pool for every client.

    With `chroot` = a PostgreSQL version of scripts/pg-chroot (e.g. "17",
    Debian trixie: PgBouncer 1.24) the chroot's pgbouncer runs instead of the
    host's (Debian 12: 1.18): same network namespace, so it listens on
    127.0.0.1 like the host's and reaches the cluster through its socket
    directory, bind-mounted at the same path; it runs as the run user and is
    stopped by pid like the host's.  `prepared` > 0 sets
    max_prepared_statements (PgBouncer >= 1.21 keeps protocol-level named
    prepared statements in transaction mode)."""

    def __init__(self, user, procs, base, cluster, db_user, db_password, pool_size,
                 chroot=None, root=None, prepared=0):
        self.user = user
        self.port = free_port()
        self.dir = base
        user.make_dir(base)
        self.pidfile = os.path.join(base, "pgbouncer.pid")
        conf = os.path.join(base, "pgbouncer.ini")
        extra = f"max_prepared_statements = {prepared}\n" if prepared else ""
        user.write_file(conf, f"""[databases]
bench = host={cluster.sockdir} port={cluster.port} dbname=bench user={db_user} password={db_password}

[pgbouncer]
listen_addr = 127.0.0.1
listen_port = {self.port}
unix_socket_dir =
auth_type = any
pool_mode = transaction
default_pool_size = {pool_size}
max_client_conn = 200
ignore_startup_parameters = extra_float_digits
logfile = {base}/pgbouncer.log
pidfile = {self.pidfile}
{extra}""", 0o600)
        if chroot:
            self.version = chroot_pgbouncer_version(root, chroot)
            pw = pwd.getpwnam(user.name)
            argv = [chroot_cli(root), "run", chroot, "--bind", f"{base}:{base}",
                    "--bind", f"{cluster.sockdir}:{cluster.sockdir}", "--",
                    "setpriv", f"--reuid={pw.pw_uid}", f"--regid={pw.pw_gid}",
                    "--clear-groups", "/usr/sbin/pgbouncer", "-d", conf]
            cp = subprocess.run(argv, capture_output=True, text=True, timeout=600)
            if cp.returncode != 0:
                raise BenchError(f"pgbouncer in the PostgreSQL {chroot} chroot failed "
                                 f"({cp.returncode}): {cp.stderr.strip()[-500:]}")
        else:
            self.version = host_pgbouncer_version()
            user.run(["/usr/sbin/pgbouncer", "-d", conf], timeout=60)
        self.pid = None
        for _ in range(200):  # the file exists a moment before the pid is in it
            try:
                with open(self.pidfile) as f:
                    self.pid = int(f.read().strip())
                break
            except (OSError, ValueError):
                time.sleep(0.05)
        if self.pid is None:
            raise BenchError(f"pgbouncer {self.version} wrote no pid file; see "
                             f"{base}/pgbouncer.log")
        procs.add("pgbouncer", lambda: stop_pid(self.pid, signal.SIGINT))

    def env(self):
        e = {k: v for k, v in os.environ.items() if not k.startswith("PG")}
        e.update(PGHOST="127.0.0.1", PGPORT=str(self.port), PGDATABASE="bench",
                 PGUSER="app", PGSSLMODE="disable", PGGSSENCMODE="disable")
        return e


def host_pgbouncer_version():
    cp = subprocess.run(["/usr/sbin/pgbouncer", "--version"], capture_output=True, text=True)
    return cp.stdout.split("\n")[0].replace("PgBouncer ", "").strip()


def chroot_cli(root):
    return os.path.join(root, "scripts", "pg-chroot")


def chroot_pgbouncer_version(root, version):
    """The pgbouncer version in the chroot of PostgreSQL `version`; builds the
    chroot's tarball first if it is not cached (mmdebstrap, minutes)."""
    if os.geteuid() != 0:
        raise BenchError("the PostgreSQL chroots need root (scripts/pg-chroot)")
    cp = subprocess.run([chroot_cli(root), "build", version], capture_output=True, text=True,
                        timeout=3600)
    if cp.returncode != 0:
        raise BenchError(f"scripts/pg-chroot build {version} failed: "
                         f"{cp.stderr.strip()[-300:]}")
    cp = subprocess.run([chroot_cli(root), "run", version, "--", "/usr/sbin/pgbouncer",
                         "--version"], capture_output=True, text=True, timeout=600)
    if cp.returncode != 0 or not cp.stdout.startswith("PgBouncer "):
        raise BenchError(f"no pgbouncer in the PostgreSQL {version} chroot: "
                         f"{(cp.stderr or cp.stdout).strip()[-300:]}")
    return cp.stdout.split("\n")[0].replace("PgBouncer ", "").strip()


def make_workdir(user):
    work = tempfile.mkdtemp(prefix="dbx_oauth_bench.")
    user.make_dir(work)
    return work
