"""The read-only admin page at ``/``: clusters, policies with per-cluster realization, inventory counts.

Server-rendered HTML with every value escaped; no script. It shows what an NSX admin would check after
joining a cluster: is it healthy, are the policies realized there, did its inventory arrive.
"""

from __future__ import annotations

from html import escape
from typing import Any

from sim.nsx.channel import ChannelState
from sim.nsx.inventory import KINDS, Inventory
from sim.nsx.policy_kinds import CCP_COLLECTION
from sim.nsx.policy_store import PolicyStore

_STYLE = """
body{font-family:sans-serif;margin:2em;color:#222}
table{border-collapse:collapse;margin-bottom:2em}
th,td{border:1px solid #bbb;padding:4px 8px;text-align:left;font-size:14px}
th{background:#e8eef4}
.SUCCESS,.HEALTHY{color:#176b2c;font-weight:bold}
.ERROR,.FAILED{color:#b00020;font-weight:bold}
.IN_PROGRESS,.DEGRADED,.UNKNOWN{color:#a65e00;font-weight:bold}
"""


def _e(value: Any) -> str:
    return escape(str(value), quote=True)


def _cell(state: str, extra: str = "") -> str:
    return f'<td class="{_e(state)}">{_e(state)}{_e(extra)}</td>'


def render_page(store: PolicyStore, inventory: Inventory, channel: ChannelState) -> str:
    ccps = sorted(store.collection(CCP_COLLECTION), key=lambda c: c["id"])
    out = ["<!DOCTYPE html><html><head><meta charset='utf-8'><title>NSX Manager simulator</title>",
           f"<style>{_STYLE}</style></head><body><h1>NSX Manager simulator</h1>"]
    out.append("<h2>Antrea clusters</h2><table id='clusters'><tr><th>Cluster</th><th>Node id</th><th>Status</th>"
               "<th>Controller</th><th>Agents (healthy/degraded/failed)</th><th>Heartbeat interval (s)</th></tr>")
    for ccp in ccps:
        st = channel.cluster_status(ccp["id"])
        ag = st.get("agent_info") or {}
        out.append(
            f"<tr><td>{_e(ccp['id'])}</td><td>{_e(ccp.get('node_id', ''))}</td>{_cell(st['status'])}"
            f"{_cell((st.get('controller_status') or {}).get('status', 'UNKNOWN'))}"
            f"<td>{_e(ag.get('healthy_agent_num', 0))}/{_e(ag.get('degraded_agent_num', 0))}/"
            f"{_e(ag.get('failed_agent_num', 0))}</td><td>{_e(channel.get_report_interval(ccp['id']))}</td></tr>")
    if not ccps:
        out.append("<tr><td colspan='6'>No Antrea cluster registered.</td></tr>")
    out.append("</table>")

    out.append("<h2>Security policies</h2><table id='policies'><tr><th>Policy</th><th>Category</th>"
               "<th>Seq</th><th>Rules</th><th>Revision</th><th>Realization per cluster</th></tr>")
    policies: list[dict[str, Any]] = []
    for obj in store.all_objects():
        if obj.get("resource_type") == "SecurityPolicy":
            policies.append(obj)
    policies.sort(key=lambda p: (p.get("category") or "", p.get("sequence_number", 0), p["id"]))
    for pol in policies:
        spans = store.spanned_clusters(pol["path"])
        cells = []
        for cpath in spans:
            cid = cpath.rsplit("/", 1)[1]
            state, reasons = channel.cluster_state(cid, pol["path"])
            why = "; ".join(r["message"] for r in reasons)
            cells.append(f'<span class="{_e(state)}">{_e(cid)}: {_e(state)}</span>'
                         + (f" <em>({_e(why)})</em>" if why else ""))
        realization = "<br>".join(cells) if cells else "not applied to an Antrea cluster"
        nrules = len(store.collection(pol["path"] + "/rules"))
        out.append(f"<tr><td title='{_e(pol['path'])}'>{_e(pol.get('display_name', pol['id']))}</td>"
                   f"<td>{_e(pol.get('category', ''))}</td><td>{_e(pol.get('sequence_number', 0))}</td>"
                   f"<td>{nrules}</td><td>{_e(pol.get('_revision', 0))}</td><td>{realization}</td></tr>")
    out.append("</table>")

    out.append("<h2>Container inventory</h2><table id='inventory'><tr><th>Container cluster</th><th>Type</th>")
    for rtype in KINDS:
        out.append(f"<th>{_e(rtype.removeprefix('Container'))}</th>")
    out.append("</tr>")
    with inventory.lock:
        clusters = sorted(inventory.clusters.values(), key=lambda c: c["external_id"])
    for cl in clusters:
        counts = inventory.counts(cl["external_id"])
        out.append(f"<tr><td title='{_e(cl['external_id'])}'>{_e(cl.get('display_name', ''))}</td>"
                   f"<td>{_e(cl.get('cluster_type', ''))}</td>")
        out.extend(f"<td>{counts[rt]}</td>" for rt in KINDS)
        out.append("</tr>")
    if not clusters:
        out.append(f"<tr><td colspan='{len(KINDS) + 2}'>No container cluster reported.</td></tr>")
    out.append("</table></body></html>")
    return "".join(out)
