"""Listener rules: Create/Describe/Modify/DeleteRule and SetRulePriorities.

Every listener has a default rule (``IsDefault``, priority ``default``, no conditions), which is the
listener's default actions: ModifyRule on it changes those, and it can be neither deleted nor moved.
Other rules have priorities 1-50000, unique per listener (PriorityInUse), at most 100 per listener.
"""

from __future__ import annotations

from sqlalchemy import insert, select, update

from controller.api import Params, RequestContext
from controller.elbv2 import conditions, records, rules, state, tags
from controller.elbv2.errors import OperationNotPermitted, PriorityInUse, TooManyRules, ValidationError
from controller.elbv2.listeners import check_actions
from controller.elbv2.service import api

MAX_RULES = 100


def _priority(value: object) -> int:
    if not isinstance(value, int) or not 1 <= value <= 50000:
        raise ValidationError("Rule priority must be between 1 and 50000")
    return value


@api.operation("CreateRule", resources=records.arns_of("ListenerArn"))
def create_rule(ctx: RequestContext, params: Params) -> Params:
    given_tags = tags.check_new(params.get("Tags") or [])
    priority = _priority(params.get("Priority"))
    found = conditions.normalize_conditions(params.get("Conditions") or [])
    if not found:
        raise ValidationError("A rule must have at least one condition")
    table = state.rules
    with records.write(ctx.cloud.db) as conn:
        listener = records.listener(conn, ctx, params["ListenerArn"])
        lb = records.load_balancer(conn, ctx, listener["load_balancer_arn"])
        if lb["type"] != "application":
            raise ValidationError("Rules can be added to Application Load Balancer listeners only")
        existing = conn.execute(select(table.c.priority).where(table.c.listener_arn == listener["arn"])).all()
        if any(p == priority for (p,) in existing):
            raise PriorityInUse(f"Priority '{priority}' is currently in use")
        if len(existing) >= MAX_RULES:
            raise TooManyRules(f"A listener can have at most {MAX_RULES} rules")
        actions = check_actions(conn, ctx, lb, listener["protocol"], params.get("Actions") or [])
        base = listener["arn"].split(":listener/", 1)[1]
        arn = f"{records.arn_prefix(ctx)}listener-rule/{base}/{records.new_id()}"
        conn.execute(insert(table).values(arn=arn, seq=records.next_seq(conn, table), listener_arn=listener["arn"],
                                          account_id=ctx.account_id, priority=priority, conditions=found,
                                          actions=actions))
        tags.put(conn, arn, given_tags)
        row, owner = records.rule(conn, ctx, arn)
    ctx.audit_resources.append(arn)
    return {"Rules": [records.rule_output(row, owner)]}


@api.operation("DescribeRules")
def describe_rules(ctx: RequestContext, params: Params) -> Params:
    """A listener's rules by priority, its default rule last; or the named rules."""
    listener_arn, arns = params.get("ListenerArn"), params.get("RuleArns") or []
    if bool(listener_arn) == bool(arns):
        raise ValidationError("You must specify either a listener ARN or rule ARNs")
    table = state.rules
    with ctx.cloud.db.read() as conn:
        if listener_arn:
            owner = records.listener(conn, ctx, listener_arn)
            found = [records.rule_output(r, owner) for r in conn.execute(
                select(table).where(table.c.listener_arn == listener_arn).order_by(table.c.priority)).mappings()]
            found.append(records.rule_output(None, owner))
        else:
            found = [records.rule_output(*records.rule(conn, ctx, a)) for a in dict.fromkeys(arns)]
    chunk, marker = rules.page(found, params.get("Marker"), params.get("PageSize"))
    result: Params = {"Rules": chunk}
    if marker:
        result["NextMarker"] = marker
    return result


@api.operation("ModifyRule", resources=records.arns_of("RuleArn"))
def modify_rule(ctx: RequestContext, params: Params) -> Params:
    with records.write(ctx.cloud.db) as conn:
        row, owner = records.rule(conn, ctx, params["RuleArn"])
        lb = records.load_balancer(conn, ctx, owner["load_balancer_arn"])
        actions = check_actions(conn, ctx, lb, owner["protocol"], params["Actions"]) if params.get("Actions") \
            else None
        if row is None:
            if params.get("Conditions"):
                raise OperationNotPermitted("The default rule cannot have conditions")
            if actions is not None:
                conn.execute(update(state.listeners).where(state.listeners.c.arn == owner["arn"])
                             .values(default_actions=actions))
        else:
            values: Params = {}
            if params.get("Conditions"):
                values["conditions"] = conditions.normalize_conditions(params["Conditions"])
            if actions is not None:
                values["actions"] = actions
            if values:
                conn.execute(update(state.rules).where(state.rules.c.arn == row["arn"]).values(**values))
        row, owner = records.rule(conn, ctx, params["RuleArn"])
    return {"Rules": [records.rule_output(row, owner)]}


@api.operation("DeleteRule", resources=records.arns_of("RuleArn"))
def delete_rule(ctx: RequestContext, params: Params) -> Params:
    with records.write(ctx.cloud.db) as conn:
        row, _ = records.rule(conn, ctx, params["RuleArn"])
        if row is None:
            raise OperationNotPermitted("The default rule of a listener cannot be deleted")
        conn.execute(state.rules.delete().where(state.rules.c.arn == row["arn"]))
        tags.drop(conn, [row["arn"]])
    return {}


@api.operation("SetRulePriorities")
def set_rule_priorities(ctx: RequestContext, params: Params) -> Params:
    """Moves several rules of one listener at once; the result must leave every priority unique."""
    pairs = params.get("RulePriorities") or []
    for index, pair in enumerate(pairs, start=1):
        if not pair.get("RuleArn"):  # optional in the model, required by the service
            raise ValidationError(f"1 validation error detected: Value null at 'rulePriorities.{index}.member."
                                  "ruleArn' failed to satisfy constraint: Member must not be null")
    wanted = {pair["RuleArn"]: _priority(pair.get("Priority")) for pair in pairs}
    if not wanted:
        raise ValidationError("At least one rule priority must be specified")
    if len(set(wanted.values())) != len(wanted):
        raise PriorityInUse("Two rules cannot have the same priority")
    table = state.rules
    with records.write(ctx.cloud.db) as conn:
        listeners = set()
        for arn in wanted:
            row, owner = records.rule(conn, ctx, arn)
            if row is None:
                raise OperationNotPermitted("The priority of a default rule cannot be changed")
            listeners.add(owner["arn"])
        if len(listeners) > 1:
            raise ValidationError("All rules must belong to the same listener")
        (listener_arn,) = listeners
        others = {r["priority"] for r in conn.execute(select(table).where(
            table.c.listener_arn == listener_arn, table.c.arn.not_in(list(wanted)))).mappings()}
        clash = others & set(wanted.values())
        if clash:
            raise PriorityInUse(f"Priority '{min(clash)}' is currently in use")
        for offset, arn in enumerate(wanted, start=1):  # step aside first: (listener, priority) is unique
            conn.execute(update(table).where(table.c.arn == arn).values(priority=-offset))
        for arn, priority in wanted.items():
            conn.execute(update(table).where(table.c.arn == arn).values(priority=priority))
        found = [records.rule_output(*records.rule(conn, ctx, arn)) for arn in wanted]
    return {"Rules": found}
