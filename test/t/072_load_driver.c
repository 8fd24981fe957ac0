/*
 * Load driver for test/t/072_load.pl: CLIENTS threads log in and out with
 * libpq (one connection per login) for SECONDS, each login picking a bad
 * token with probability BAD_PERCENT.  Counts false accepts (a bad token
 * that connected), false rejects (a good token refused), wrong identities,
 * and other errors; prints one summary line of key=value pairs.
 *
 *   072_load_driver CONNINFO TOKENS_FILE CLIENTS SECONDS BAD_PERCENT
 *
 * CONNINFO is the common part (host, port, dbname, sslmode); TOKENS_FILE has
 * lines "good|bad <TAB> role <TAB> token".  Loopback only: the test passes
 * host=127.0.0.1.  The run stops by itself at the deadline; a login in
 * progress then finishes (bounded by connect_timeout).
 */
#include <libpq-fe.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define MAX_TOKENS 4096
#define HIST_MS 60000

struct token {
    int good;
    char *role;
    char *text;
};

static struct token goods[MAX_TOKENS], bads[MAX_TOKENS];
static int n_good, n_bad;
static const char *conninfo;
static double deadline;
static int bad_percent;

static atomic_long attempts, accepted, rejected, false_accepts, false_rejects, identity_errors,
    other_errors;
static atomic_long hist[HIST_MS + 1]; /* login latency in ms */
static atomic_int printed;

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec / 1e9;
}

static void report(const char *what, const struct token *t, const char *msg) {
    if (atomic_fetch_add(&printed, 1) < 20)
        fprintf(stderr, "%s: role=%s: %s\n", what, t->role, msg ? msg : "");
}

static void one_login(const struct token *t, unsigned *seed) {
    (void) seed;
    const char *keys[] = {"dbname", "user", "password", NULL};
    const char *vals[] = {conninfo, t->role, t->text, NULL};
    double t0 = now_s();
    PGconn *conn = PQconnectdbParams(keys, vals, 1 /* expand dbname as a conninfo */);
    long ms = (long) ((now_s() - t0) * 1000);
    atomic_fetch_add(&hist[ms > HIST_MS ? HIST_MS : ms], 1);
    atomic_fetch_add(&attempts, 1);
    if (PQstatus(conn) == CONNECTION_OK) {
        atomic_fetch_add(&accepted, 1);
        if (!t->good) {
            atomic_fetch_add(&false_accepts, 1);
            report("FALSE ACCEPT", t, "");
        } else {
            PGresult *r = PQexec(conn, "SELECT current_user, dbx_oauth.current_identity()");
            if (PQresultStatus(r) != PGRES_TUPLES_OK || PQntuples(r) != 1 ||
                strcmp(PQgetvalue(r, 0, 0), t->role) != 0 || strcmp(PQgetvalue(r, 0, 1), t->role) != 0) {
                atomic_fetch_add(&identity_errors, 1);
                report("WRONG IDENTITY", t, PQresultErrorMessage(r));
            }
            PQclear(r);
        }
    } else {
        const char *msg = PQerrorMessage(conn);
        if (strstr(msg, "password authentication failed")) {
            atomic_fetch_add(&rejected, 1);
            if (t->good) {
                atomic_fetch_add(&false_rejects, 1);
                report("FALSE REJECT", t, msg);
            }
        } else {
            atomic_fetch_add(&other_errors, 1);
            report("OTHER ERROR", t, msg);
        }
    }
    PQfinish(conn);
}

static void *client(void *arg) {
    unsigned seed = (unsigned) (uintptr_t) arg * 2654435761u + 1;
    while (now_s() < deadline) {
        int bad = n_bad > 0 && (int) (rand_r(&seed) % 100) < bad_percent;
        const struct token *t = bad ? &bads[rand_r(&seed) % n_bad] : &goods[rand_r(&seed) % n_good];
        one_login(t, &seed);
    }
    return NULL;
}

static long percentile(long total, double p) {
    long want = (long) (total * p), seen = 0;
    for (int i = 0; i <= HIST_MS; i++) {
        seen += hist[i];
        if (seen > want) return i;
    }
    return HIST_MS;
}

int main(int argc, char **argv) {
    if (argc != 6) {
        fprintf(stderr, "usage: %s CONNINFO TOKENS_FILE CLIENTS SECONDS BAD_PERCENT\n", argv[0]);
        return 2;
    }
    conninfo = argv[1];
    int clients = atoi(argv[3]);
    double seconds = atof(argv[4]);
    bad_percent = atoi(argv[5]);
    if (clients < 1 || clients > 1000 || seconds <= 0 || seconds > 3600) {
        fprintf(stderr, "clients must be 1..1000 and seconds 0..3600\n");
        return 2;
    }
    FILE *f = fopen(argv[2], "r");
    if (!f) {
        perror(argv[2]);
        return 2;
    }
    static char line[65536];
    while (fgets(line, sizeof line, f)) {
        line[strcspn(line, "\n")] = 0;
        char *kind = strtok(line, "\t"), *role = strtok(NULL, "\t"), *text = strtok(NULL, "\t");
        if (!kind || !role || !text) continue;
        int good = strcmp(kind, "good") == 0;
        struct token *t = good ? (n_good < MAX_TOKENS ? &goods[n_good++] : NULL)
                               : (n_bad < MAX_TOKENS ? &bads[n_bad++] : NULL);
        if (!t) continue;
        t->good = good;
        t->role = strdup(role);
        t->text = strdup(text);
    }
    fclose(f);
    if (n_good == 0) {
        fprintf(stderr, "no good tokens\n");
        return 2;
    }

    double start = now_s();
    deadline = start + seconds;
    pthread_t *threads = calloc(clients, sizeof *threads);
    pthread_attr_t attr;
    pthread_attr_init(&attr);
    pthread_attr_setstacksize(&attr, 256 * 1024);
    int started = 0;
    for (int i = 0; i < clients; i++) {
        if (pthread_create(&threads[i], &attr, client, (void *) (uintptr_t) (i + 1)) != 0) break;
        started++;
    }
    for (int i = 0; i < started; i++) pthread_join(threads[i], NULL);
    double elapsed = now_s() - start;

    long total = attempts;
    printf("clients=%d started=%d seconds=%.1f attempts=%ld accepted=%ld rejected=%ld "
           "false_accepts=%ld false_rejects=%ld identity_errors=%ld other_errors=%ld "
           "logins_per_s=%.1f p50_ms=%ld p99_ms=%ld max_ms=%ld\n",
           clients, started, elapsed, total, (long) accepted, (long) rejected, (long) false_accepts,
           (long) false_rejects, (long) identity_errors, (long) other_errors, total / elapsed,
           percentile(total, 0.5), percentile(total, 0.99), percentile(total, 1.0 - 1e-12));
    return started == clients ? 0 : 1;
}
