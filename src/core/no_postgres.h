// Guard against PostgreSQL headers leaking into the pure C++ core.
//
// src/core is compiled and unit-tested without PostgreSQL.  Its code throws
// C++ exceptions and owns RAII objects, which must never meet ereport()'s
// longjmp.  Every core header includes this file first, so a translation
// unit that included postgres.h before a core header fails to build instead
// of silently mixing the two worlds.  Deliberately no include guard: the
// check runs again on every inclusion.
#ifdef POSTGRES_H
#error "src/core must not see PostgreSQL headers"
#endif
