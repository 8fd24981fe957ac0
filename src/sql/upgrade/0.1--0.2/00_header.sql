/* dbx_oauth 0.1 -> 0.2, assembled from src/sql/upgrade/0.1--0.2/NN_area.sql.
 *
 * Every change to src/sql/NN_area.sql since 0.1 is repeated here, so an
 * upgraded 0.1 holds exactly what a fresh 0.2 install holds (test/t/074_upgrade.pl
 * compares them object by object).  An area new in 0.2 is a relative symlink
 * to its install fragment, and functions new or rewritten in 0.2 are copied
 * by the Makefile from their install fragment (below its "Upgrade 0.1--0.2"
 * line), so their text cannot drift.  Released install scripts are never
 * edited. */
\echo Use "ALTER EXTENSION dbx_oauth UPDATE TO '0.2'" to load this file. \quit
