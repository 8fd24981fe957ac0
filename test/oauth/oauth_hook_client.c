/*
 * oauth_hook_client.c — a libpq 18 client that logs in through SASL
 * OAUTHBEARER with a token it is handed, for the OAuth door's tests
 * (test/t/100_oauth_door.pl).
 *
 *   OAUTH_TOKEN=<token> oauth_hook_client CONNINFO [SQL]
 *
 * libpq asks its auth-data hook for a bearer token when the server offers
 * OAUTHBEARER; this client answers with $OAUTH_TOKEN (from the environment,
 * so the token is not on a command line) instead of running an OAuth flow.
 * On success it runs SQL (default "SELECT current_user") and prints each
 * row's columns joined by "|", exit status 0.  On failure it prints libpq's
 * message to stderr, exit status 1.  Every token request is reported on
 * stderr with the scope and discovery URI the server sent, so a test can
 * tell the OAuth door from another hba method.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "libpq-fe.h"

static const char *token;
static int token_requests;

static int handle_auth_data(PGauthData type, PGconn *conn, void *data) {
    PGoauthBearerRequest *req = data;

    (void) conn;
    if (type != PQAUTHDATA_OAUTH_BEARER_TOKEN)
        return 0; /* not ours: libpq's default handling */
    token_requests++;
    fprintf(stderr, "oauth_hook_client: token requested (scope \"%s\", discovery \"%s\")\n",
            req->scope ? req->scope : "", req->openid_configuration ? req->openid_configuration : "");
    if (token == NULL)
        return -1; /* fail the connection */
    req->token = (char *) token;
    return 1;
}

int main(int argc, char **argv) {
    const char *sql = argc > 2 ? argv[2] : "SELECT current_user";
    PGconn *conn;
    PGresult *res;
    int rc = 0;

    if (argc < 2 || argc > 3) {
        fprintf(stderr, "usage: OAUTH_TOKEN=<token> %s CONNINFO [SQL]\n", argv[0]);
        return 2;
    }
    token = getenv("OAUTH_TOKEN");

    PQsetAuthDataHook(handle_auth_data);
    conn = PQconnectdb(argv[1]);
    if (PQstatus(conn) != CONNECTION_OK) {
        fprintf(stderr, "connection failed: %s", PQerrorMessage(conn));
        PQfinish(conn);
        return 1;
    }

    res = PQexec(conn, sql);
    if (PQresultStatus(res) == PGRES_TUPLES_OK) {
        for (int row = 0; row < PQntuples(res); row++) {
            for (int col = 0; col < PQnfields(res); col++)
                printf("%s%s", col ? "|" : "", PQgetisnull(res, row, col) ? "" : PQgetvalue(res, row, col));
            printf("\n");
        }
    } else if (PQresultStatus(res) != PGRES_COMMAND_OK) {
        fprintf(stderr, "query failed: %s", PQerrorMessage(conn));
        rc = 1;
    }
    PQclear(res);
    PQfinish(conn);
    fprintf(stderr, "oauth_hook_client: %d token request(s)\n", token_requests);
    return rc;
}
