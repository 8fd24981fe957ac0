"""A minimal libpq binding (ctypes; Debian's libpq5, no Python driver needed).

Used where pgbench does not fit: holding hundreds of idle sessions open,
and reading a backend's memory between statements of one session.
"""
import ctypes
import ctypes.util

_lib = ctypes.CDLL(ctypes.util.find_library("pq") or "libpq.so.5")
_lib.PQconnectdb.restype = ctypes.c_void_p
_lib.PQconnectdb.argtypes = [ctypes.c_char_p]
_lib.PQstatus.argtypes = [ctypes.c_void_p]
_lib.PQerrorMessage.restype = ctypes.c_char_p
_lib.PQerrorMessage.argtypes = [ctypes.c_void_p]
_lib.PQfinish.argtypes = [ctypes.c_void_p]
_lib.PQexecParams.restype = ctypes.c_void_p
_lib.PQexecParams.argtypes = [ctypes.c_void_p, ctypes.c_char_p, ctypes.c_int, ctypes.c_void_p,
                              ctypes.POINTER(ctypes.c_char_p), ctypes.c_void_p, ctypes.c_void_p,
                              ctypes.c_int]
_lib.PQresultStatus.argtypes = [ctypes.c_void_p]
_lib.PQresultErrorMessage.restype = ctypes.c_char_p
_lib.PQresultErrorMessage.argtypes = [ctypes.c_void_p]
_lib.PQntuples.argtypes = [ctypes.c_void_p]
_lib.PQgetvalue.restype = ctypes.c_char_p
_lib.PQgetvalue.argtypes = [ctypes.c_void_p, ctypes.c_int, ctypes.c_int]
_lib.PQclear.argtypes = [ctypes.c_void_p]

CONNECTION_OK = 0
PGRES_COMMAND_OK, PGRES_TUPLES_OK = 1, 2


class PqError(Exception):
    pass


class Connection:
    def __init__(self, conninfo):
        self.conn = _lib.PQconnectdb(conninfo.encode())
        if _lib.PQstatus(self.conn) != CONNECTION_OK:
            msg = _lib.PQerrorMessage(self.conn).decode(errors="replace").strip()
            _lib.PQfinish(self.conn)
            self.conn = None
            raise PqError(msg)

    def execute(self, sql, *params):
        """Runs one statement; returns the first column of the first row (or None)."""
        arr = (ctypes.c_char_p * len(params))(*[str(p).encode() for p in params]) if params else None
        res = _lib.PQexecParams(self.conn, sql.encode(), len(params), None, arr, None, None, 0)
        try:
            status = _lib.PQresultStatus(res)
            if status not in (PGRES_COMMAND_OK, PGRES_TUPLES_OK):
                raise PqError(_lib.PQresultErrorMessage(res).decode(errors="replace").strip())
            if status == PGRES_TUPLES_OK and _lib.PQntuples(res) > 0:
                v = _lib.PQgetvalue(res, 0, 0)
                return v.decode() if v is not None else None
            return None
        finally:
            _lib.PQclear(res)

    def close(self):
        if self.conn:
            _lib.PQfinish(self.conn)
            self.conn = None

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
