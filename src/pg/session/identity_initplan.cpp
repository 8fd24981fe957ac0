/*
 * identity_initplan.cpp — the planner support function of
 * dbx_oauth.current_identity(): a call in a query that reads tables is
 * planned as if written (SELECT dbx_oauth.current_identity()).
 *
 * Why: a policy written the natural way, USING (owner =
 * dbx_oauth.current_identity()), calls the function for every row it
 * checks; the wrapped form computes the identity once per execution (an
 * InitPlan) and compares each row with that value, ~8-10 ns a row less
 * (docs/benchmarks.md, figure 3).  The rewrite gives every policy the
 * wrapped form's cost.
 *
 * Why it is exact: an InitPlan is evaluated at execution, once per
 * execution, never at plan time, so a plan cached across identity switches
 * (generic plans, several identities sharing one role) still reads the
 * identity of the execution.  Folding the value into the plan as a constant
 * would not be.  Within one execution a STABLE function may already return
 * one value for all rows, so nothing a query may rely on changes.
 *
 * Where it stays a plain call:
 *  - no planner root (expression_planner: defaults, CHECK constraints) or
 *    a query that reads no rows (SELECT current_identity(), and
 *    x := current_identity() in PL/pgSQL: an InitPlan would make that a
 *    full query instead of a simple expression; and the InitPlan's own
 *    one-line query, so the rewrite never recurses);
 *  - MERGE, which does not take subqueries in its WHEN conditions;
 *  - a query that calls a volatile function: set_token() is one, and a
 *    statement that switches identity from row to row must see each switch
 *    (test/t/030_set_token.pl), which only a call per row does.
 */
extern "C" {
#include "postgres.h"
#include "fmgr.h"
#include "nodes/makefuncs.h"
#include "nodes/pathnodes.h"
#include "nodes/supportnodes.h"
#include "optimizer/optimizer.h"
}

extern "C" {
PG_FUNCTION_INFO_V1(dbx_oauth_current_identity_support);
}

/*
 * Whether the query reads any relation, subquery, function or values list.
 * The planner gives a query without FROM an RTE_RESULT entry (so the
 * InitPlan's own SELECT has one): that alone does not count.
 */
static bool reads_rows(const Query *query) {
    ListCell *lc;
    foreach (lc, query->rtable) {
        if (static_cast<RangeTblEntry *>(lfirst(lc))->rtekind != RTE_RESULT)
            return true;
    }
    return false;
}

/* A query the InitPlan form pays off in and keeps the meaning of (see above). */
static bool rewrite_applies(const PlannerInfo *root) {
    if (root == nullptr || root->parse == nullptr || !reads_rows(root->parse))
        return false;
    switch (root->parse->commandType) {
        case CMD_SELECT:
        case CMD_INSERT:
        case CMD_UPDATE:
        case CMD_DELETE:
            break;
        default: /* CMD_MERGE (15+), utility */
            return false;
    }
    return !contain_volatile_functions(reinterpret_cast<Node *>(root->parse));
}

/* (SELECT <call>) as parse analysis would have built it: an uncorrelated EXPR sublink. */
static SubLink *wrap_in_sublink(FuncExpr *call) {
    Query *select = makeNode(Query);
    select->commandType = CMD_SELECT;
    select->querySource = QSRC_ORIGINAL;
    select->canSetTag = true;
    select->jointree = makeFromExpr(NIL, nullptr);
    /* lappend and copyObjectImpl: list_make1 and copyObject are C-only macros */
    Expr *inner = static_cast<Expr *>(copyObjectImpl(call));
    select->targetList = lappend(NIL, makeTargetEntry(inner, 1, pstrdup("current_identity"), false));

    SubLink *link = makeNode(SubLink);
    link->subLinkType = EXPR_SUBLINK;
    link->subLinkId = 0;
    link->testexpr = nullptr;
    link->operName = NIL;
    link->subselect = reinterpret_cast<Node *>(select);
    link->location = call->location;
    return link;
}

extern "C" PGDLLEXPORT Datum dbx_oauth_current_identity_support(PG_FUNCTION_ARGS) {
    Node *request = reinterpret_cast<Node *>(PG_GETARG_POINTER(0));
    if (!IsA(request, SupportRequestSimplify))
        PG_RETURN_POINTER(static_cast<Node *>(nullptr)); /* typed: 19's PointerGetDatum needs a pointer type */
    auto *simplify = reinterpret_cast<SupportRequestSimplify *>(request);
    if (!rewrite_applies(simplify->root))
        PG_RETURN_POINTER(static_cast<Node *>(nullptr)); /* typed: 19's PointerGetDatum needs a pointer type */
    /*
     * The planner turns SubLinks into SubPlans after simplifying an
     * expression, but only in a query it knows to have them.
     */
    simplify->root->parse->hasSubLinks = true;
    PG_RETURN_POINTER(wrap_in_sublink(simplify->fcall));
}
