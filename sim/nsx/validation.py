"""Field validation of Policy objects (nsx-api.md §9.4): what real NSX rejects, the simulator rejects.

Every check raises :class:`~sim.nsx.errors.NsxError` 400 naming the field, so a client that passes here
will not be surprised by a real manager. Checks that need other objects (references, Antrea span)
live in :mod:`sim.nsx.policy_store`.
"""

from __future__ import annotations

import ipaddress
import re
from typing import Any, NoReturn

from sim.nsx.errors import bad_request
from sim.nsx.policy_kinds import BASE_FIELDS, SERVICE_ENTRY_TYPES, Kind

DFW_CATEGORIES = ("Ethernet", "Emergency", "Infrastructure", "Environment", "Application")
RULE_ACTIONS = ("ALLOW", "DROP", "REJECT", "JUMP_TO_APPLICATION")
DIRECTIONS = ("IN", "OUT", "IN_OUT")
IP_PROTOCOLS = ("IPV4", "IPV6", "IPV4_IPV6")
MEMBER_TYPES = (
    "IPSet", "VirtualMachine", "LogicalPort", "LogicalSwitch", "Segment", "SegmentPort", "Pod", "Service",
    "Namespace", "TransportNode", "Group", "DVPG", "DVPort", "IPAddress", "VpcSubnet", "KubernetesCluster",
    "KubernetesNamespace", "AntreaEgress", "AntreaIPPool", "KubernetesIngress", "KubernetesGateway",
    "KubernetesService", "KubernetesNode", "VpcSubnetPort",
)
CONDITION_KEYS = ("Tag", "Name", "OSName", "ComputerName", "NodeType", "GroupType", "ALL", "IPAddress", "PodCidr")
OPERATORS = ("EQUALS", "CONTAINS", "STARTSWITH", "ENDSWITH", "NOTEQUALS", "NOTIN", "MATCHES", "IN")
SCOPE_OPERATORS = ("EQUALS", "NOTEQUALS")
CONJUNCTIONS = ("OR", "AND")
GROUP_TYPES = ("IPAddress", "ANTREA")
EXPRESSION_TYPES = (
    "Condition", "ConjunctionOperator", "NestedExpression", "IPAddressExpression", "MACAddressExpression",
    "ExternalIDExpression", "PathExpression", "IdentityGroupExpression",
)
ICMP_PROTOCOLS = ("ICMPv4", "ICMPv6")
ALGS = ("ORACLE_TNS", "FTP", "SUN_RPC_TCP", "SUN_RPC_UDP", "MS_RPC_TCP", "MS_RPC_UDP", "NBNS_BROADCAST",
        "NBDG_BROADCAST", "TFTP")
MAX_GROUP_LIST = 128
MAX_PORT_VALUES = 15
MAX_TAGS = 30
_PORT_RE = re.compile(r"^(\d{1,5})(?:-(\d{1,5}))?$")


def _fail(message: str) -> NoReturn:
    raise bad_request(message)


def check_fields(kind: Kind, obj: dict[str, Any], what: str) -> None:
    """Unknown (for example camelCase) fields are rejected, as NSX's schema validation does."""
    allowed = BASE_FIELDS | kind.fields
    if kind.resource_type == "ServiceEntry":
        allowed = allowed | {"id"}
    unknown = sorted(k for k in obj if k not in allowed)
    if unknown:
        _fail(f"Field level validation errors: {{unrecognized field(s) {', '.join(unknown)} in {what}}}")


def check_base(obj: dict[str, Any], what: str) -> None:
    name = obj.get("display_name")
    if name is not None and (not isinstance(name, str) or len(name) > 255):
        _fail(f"{what}: display_name must be a string of at most 255 characters")
    desc = obj.get("description")
    if desc is not None and (not isinstance(desc, str) or len(desc) > 1024):
        _fail(f"{what}: description must be a string of at most 1024 characters")
    tags = obj.get("tags")
    if tags is None:
        return
    if not isinstance(tags, list):
        _fail(f"{what}: tags must be a list")
    if len(tags) > MAX_TAGS:
        _fail(f"{what}: at most {MAX_TAGS} tags are allowed, got {len(tags)}")
    for tag in tags:
        if not isinstance(tag, dict) or set(tag) - {"scope", "tag"}:
            _fail(f"{what}: a tag is an object with 'scope' and 'tag' only")
        if len(str(tag.get("scope", ""))) > 128:
            _fail(f"{what}: tag scope longer than 128 characters")
        if len(str(tag.get("tag", ""))) > 256:
            _fail(f"{what}: tag value longer than 256 characters")


def _enum(value: Any, allowed: tuple[str, ...], field: str, what: str) -> None:
    if value not in allowed:
        _fail(f"{what}: invalid value {value!r} for {field}; allowed values are {', '.join(allowed)}")


def _bool(obj: dict[str, Any], field: str, what: str) -> None:
    if field in obj and obj[field] is not None and not isinstance(obj[field], bool):
        _fail(f"{what}: {field} must be a boolean")


def _int_range(obj: dict[str, Any], field: str, lo: int, hi: int, what: str) -> None:
    val = obj.get(field)
    if val is None:
        return
    if isinstance(val, bool) or not isinstance(val, int) or not lo <= val <= hi:
        _fail(f"{what}: {field} must be an integer between {lo} and {hi}")


def is_ip_literal(value: str) -> bool:
    """IPv4/IPv6 address, CIDR or ``a-b`` range: allowed in group lists instead of group paths."""
    try:
        if "-" in value:
            lo, hi = value.split("-", 1)
            a, b = ipaddress.ip_address(lo.strip()), ipaddress.ip_address(hi.strip())
            return a.version == b.version and int(a) <= int(b)
        if "/" in value:
            ipaddress.ip_network(value, strict=False)
            return True
        ipaddress.ip_address(value)
        return True
    except ValueError:
        return False


def ip_version(value: str) -> int:
    token = value.split("-", 1)[0].split("/", 1)[0].strip()
    return ipaddress.ip_address(token).version


def check_path_list(obj: dict[str, Any], field: str, what: str, allow_ip: bool) -> None:
    """``ANY`` alone, at most 128 entries, each a policy path (or an IP literal where allowed)."""
    val = obj.get(field)
    if val is None:
        return
    if not isinstance(val, list) or not all(isinstance(v, str) for v in val):
        _fail(f"{what}: {field} must be a list of strings")
    if len(val) > MAX_GROUP_LIST:
        _fail(f"{what}: {field} may hold at most {MAX_GROUP_LIST} entries, got {len(val)}")
    anys = [v for v in val if v.upper() == "ANY"]
    if anys and len(val) > 1:
        _fail(f"{what}: 'ANY' must be the only entry of {field}")
    for v in val:
        if v.upper() == "ANY" or v.startswith("/"):
            continue
        if allow_ip and is_ip_literal(v):
            continue
        _fail(f"{what}: {field} entry {v!r} is neither ANY, a policy path" + (" nor an IP address" if allow_ip
                                                                               else ""))


def check_rule(rule: dict[str, Any], category: str | None, what: str) -> None:
    check_base(rule, what)
    if "action" in rule and rule["action"] is not None:
        _enum(rule["action"], RULE_ACTIONS, "action", what)
        if rule["action"] == "JUMP_TO_APPLICATION" and category != "Environment":
            _fail(f"{what}: action JUMP_TO_APPLICATION is only allowed in category Environment")
    if rule.get("direction") is not None:
        _enum(rule["direction"], DIRECTIONS, "direction", what)
    if rule.get("ip_protocol") is not None:
        if category == "Ethernet":
            _fail(f"{what}: ip_protocol must not be set for rules of an Ethernet policy")
        _enum(rule["ip_protocol"], IP_PROTOCOLS, "ip_protocol", what)
    for f in ("source_groups", "destination_groups"):
        check_path_list(rule, f, what, allow_ip=True)
    for f in ("services", "scope", "profiles"):
        check_path_list(rule, f, what, allow_ip=False)
    for f in ("sources_excluded", "destinations_excluded", "disabled", "logged"):
        _bool(rule, f, what)
    _int_range(rule, "sequence_number", 0, 2**31 - 1, what)
    entries = rule.get("service_entries")
    if entries is not None:
        if not isinstance(entries, list):
            _fail(f"{what}: service_entries must be a list")
        for i, entry in enumerate(entries):
            check_service_entry(entry, f"{what} service_entries[{i}]")


def check_policy(policy: dict[str, Any], what: str) -> None:
    check_base(policy, what)
    cat = policy.get("category")
    if cat is not None and cat != "":
        _enum(cat, DFW_CATEGORIES, "category", what)
    _int_range(policy, "sequence_number", 0, 999999, what)
    for f in ("stateful", "tcp_strict", "locked", "logging_enabled"):
        _bool(policy, f, what)
    check_path_list(policy, "scope", what, allow_ip=False)
    if policy.get("tcp_strict") is True and policy.get("stateful") is False:
        _fail(f"{what}: tcp_strict can only be enabled on a stateful policy")
    if cat == "Ethernet" and policy.get("stateful") is True:
        _fail(f"{what}: an Ethernet policy must be stateless (stateful false)")


def _check_condition(expr: dict[str, Any], what: str) -> None:
    _enum(expr.get("member_type"), MEMBER_TYPES, "member_type", what)
    _enum(expr.get("key"), CONDITION_KEYS, "key", what)
    if expr.get("operator") is not None or expr.get("member_type") not in ("Segment", "SegmentPort"):
        _enum(expr.get("operator"), OPERATORS, "operator", what)
    if expr.get("scope_operator") is not None:
        _enum(expr["scope_operator"], SCOPE_OPERATORS, "scope_operator", what)
    val = expr.get("value")
    if not isinstance(val, str) or not val:
        _fail(f"{what}: Condition value is required")


def _check_alternation(exprs: list[Any], what: str, allowed: tuple[str, ...]) -> list[dict[str, Any]]:
    if len(exprs) % 2 == 0 and exprs:
        _fail(f"{what}: an expression list must have odd length (criteria joined by conjunctions)")
    out: list[dict[str, Any]] = []
    for i, expr in enumerate(exprs):
        if not isinstance(expr, dict):
            _fail(f"{what}: expression[{i}] must be an object")
        rtype = expr.get("resource_type")
        if rtype not in allowed:
            _fail(f"{what}: expression[{i}] has invalid resource_type {rtype!r}")
        is_conj = rtype == "ConjunctionOperator"
        if (i % 2 == 1) != is_conj:
            _fail(f"{what}: conjunction operators must alternate with criteria (index {i})")
        if is_conj:
            _enum(expr.get("conjunction_operator"), CONJUNCTIONS, "conjunction_operator", what)
        out.append(expr)
    return out


def check_group(group: dict[str, Any], what: str) -> None:
    check_base(group, what)
    gtypes = group.get("group_type")
    if gtypes is not None:
        if not isinstance(gtypes, list):
            _fail(f"{what}: group_type must be a list")
        for g in gtypes:
            _enum(g, GROUP_TYPES, "group_type", what)
    exprs = group.get("expression")
    if exprs is None:
        return
    if not isinstance(exprs, list):
        _fail(f"{what}: expression must be a list")
    checked = _check_alternation(exprs, what, EXPRESSION_TYPES)
    top_criteria = sum(1 for e in checked if e["resource_type"] in ("Condition", "NestedExpression"))
    if top_criteria > 5:
        _fail(f"{what}: at most 5 Condition/NestedExpression entries are allowed at top level, got {top_criteria}")
    for i, expr in enumerate(checked):
        rtype = expr["resource_type"]
        where = f"{what} expression[{i}]"
        if rtype == "Condition":
            _check_condition(expr, where)
        elif rtype == "NestedExpression":
            inner = expr.get("expressions")
            if not isinstance(inner, list) or not inner:
                _fail(f"{where}: NestedExpression needs a non-empty expressions list")
            inner_checked = _check_alternation(inner, where, ("Condition", "ConjunctionOperator"))
            conds = [e for e in inner_checked if e["resource_type"] == "Condition"]
            if len(conds) > 5:
                _fail(f"{where}: a NestedExpression holds at most 5 conditions")
            for e in inner_checked:
                if e["resource_type"] == "Condition":
                    _check_condition(e, where)
                elif e.get("conjunction_operator") != "AND":
                    _fail(f"{where}: conditions inside a NestedExpression can only be joined by AND")
            if len({c.get("member_type") for c in conds}) > 1:
                _fail(f"{where}: all conditions of a NestedExpression must have the same member_type")
        elif rtype == "IPAddressExpression":
            ips = expr.get("ip_addresses")
            if not isinstance(ips, list) or not ips:
                _fail(f"{where}: ip_addresses must be a non-empty list")
            for ip in ips:
                if not isinstance(ip, str) or not is_ip_literal(ip):
                    _fail(f"{where}: {ip!r} is not an IP address, range or CIDR")
            if len({ip_version(ip) for ip in ips}) > 1:
                _fail(f"{where}: one IPAddressExpression cannot mix IPv4 and IPv6 addresses")
        elif rtype == "PathExpression":
            paths = expr.get("paths")
            if not isinstance(paths, list) or not all(isinstance(p, str) and p.startswith("/") for p in paths):
                _fail(f"{where}: paths must be a list of policy paths")
        elif rtype == "MACAddressExpression":
            macs = expr.get("mac_addresses")
            if not isinstance(macs, list):
                _fail(f"{where}: mac_addresses must be a list")


def _check_ports(entry: dict[str, Any], field: str, what: str) -> int:
    ports = entry.get(field)
    if ports is None:
        return 0
    if not isinstance(ports, list):
        _fail(f"{what}: {field} must be a list")
    count = 0
    for p in ports:
        m = _PORT_RE.match(str(p)) if isinstance(p, str | int) and not isinstance(p, bool) else None
        if m is None:
            _fail(f"{what}: invalid port {p!r} in {field} (expected N or N-M)")
            return 0
        lo = int(m.group(1))
        hi = int(m.group(2)) if m.group(2) else lo
        if not 1 <= lo <= hi <= 65535:
            _fail(f"{what}: port {p!r} out of range 1-65535 (or range start above its end)")
        count += 2 if m.group(2) else 1
    if count > MAX_PORT_VALUES:
        _fail(f"{what}: {field} may hold at most {MAX_PORT_VALUES} port values (a range counts 2), got {count}")
    return count


def check_service_entry(entry: Any, what: str) -> None:
    if not isinstance(entry, dict):
        _fail(f"{what}: a service entry must be an object")
        return
    check_base(entry, what)
    rtype = entry.get("resource_type")
    if rtype not in SERVICE_ENTRY_TYPES:
        _fail(f"{what}: invalid service entry resource_type {rtype!r}")
    if rtype == "L4PortSetServiceEntry":
        _enum(entry.get("l4_protocol"), ("TCP", "UDP"), "l4_protocol", what)
        _check_ports(entry, "destination_ports", what)
        _check_ports(entry, "source_ports", what)
    elif rtype == "ICMPTypeServiceEntry":
        _enum(entry.get("protocol"), ICMP_PROTOCOLS, "protocol", what)
        _int_range(entry, "icmp_type", 0, 255, what)
        _int_range(entry, "icmp_code", 0, 255, what)
    elif rtype == "ALGTypeServiceEntry":
        _enum(entry.get("alg"), ALGS, "alg", what)
        ports = entry.get("destination_ports")
        if not isinstance(ports, list) or len(ports) != 1 or "-" in str(ports[0]):
            _fail(f"{what}: an ALG service entry needs exactly one destination port")
        _check_ports(entry, "destination_ports", what)
        _check_ports(entry, "source_ports", what)
    elif rtype == "IPProtocolServiceEntry":
        _int_range(entry, "protocol_number", 0, 255, what)
        if entry.get("protocol_number") is None:
            _fail(f"{what}: protocol_number is required")
    elif rtype == "EtherTypeServiceEntry":
        _int_range(entry, "ether_type", 0, 65535, what)
    elif rtype == "NestedServiceServiceEntry":
        nsp = entry.get("nested_service_path")
        if not isinstance(nsp, str) or not nsp.startswith("/infra/services/"):
            _fail(f"{what}: nested_service_path must be a service path")


def check_service(service: dict[str, Any], what: str) -> None:
    check_base(service, what)
    if service.get("service_type") is not None:
        _enum(service["service_type"], ("ETHER", "NON_ETHER"), "service_type", what)
    entries = service.get("service_entries")
    if entries is not None and not isinstance(entries, list):
        _fail(f"{what}: service_entries must be a list")


def check_span(span: dict[str, Any], what: str) -> None:
    check_base(span, what)
    _enum(span.get("container_cluster_type"), ("ANTREA",), "container_cluster_type", what)
    ccp = span.get("container_cluster_path")
    if not isinstance(ccp, str) or not ccp.startswith("/"):
        _fail(f"{what}: container_cluster_path is required")
