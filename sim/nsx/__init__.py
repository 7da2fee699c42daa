"""An NSX Manager simulator over HTTP(S) for tests and the demo.

``NsxSimulator`` serves the Policy and Manager API subset of nsx-api.md §9 plus the adapter channel of
docs/adapter-channel.md. It imports nothing of the product, so it stays an independent judge.

In-process::

    with NsxSimulator(password="pw", seed="seed.yaml") as sim:
        requests.get(sim.url + "/policy/api/v1/infra/domains/default/groups",
                     auth=(sim.username, sim.password), verify=str(sim.ca_file))
        sim.faults.fail_next(2, 503, method="PATCH", path="/groups/")
        sim.state.policies            # what NSX holds, for assertions

Stand-alone: ``python -m sim.nsx --port 8443 --seed seed.yaml [--http] [--password-file F]``.

Modules: ``simulator`` (start/stop, PKI, identities), ``app`` (per-request pipeline), ``server`` (HTTP
mechanics), ``policy_store``/``policy_kinds``/``validation``/``hapi`` (Policy CRUD engine), ``inventory``
(MP container inventory), ``channel`` (adapter channel state), ``api_*`` (routes), ``faults``, ``auth``,
``tls``, ``seed``, ``paging``, ``webui``, ``state`` (Python read access).
"""

from sim.nsx.simulator import NsxSimulator

__all__ = ["NsxSimulator"]
