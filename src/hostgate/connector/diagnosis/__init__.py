"""The doctor's diagnosis of a cluster alias: is the alias right, and does every address answer for this cluster?

KB 7021563 puts failover in the alias: "Each Management Server IP address must be assigned to the same common
name", "the local unique system name is listed separately first to avoid problems with reverse DNS lookups",
and each server belongs to one cluster only. :func:`diagnose` checks those rules against the running cluster:
it resolves the alias from **every** configured source (``consult_all``); opens TCP to every address (a
refused port and a member that accepts but never answers are different faults), then asks the
unauthenticated ``/api/v1/health`` over HTTPS with the cluster CA (which member of which cluster answers);
with credentials, reads the member list through a member that proved its cluster; and looks member addresses
up in reverse (the hosts files that carry the alias; PTR records from given DNS servers only, never the
system's resolver). Nothing is changed.

The answer is a typed :class:`Report` of frozen :class:`Finding` values (stable code ``HG-D01``..., severity,
message, fix; catalogue and JSON shape in docs/errors.md, "doctor findings"): ``hostgate doctor`` prints it,
and the console can show the same values. It lives in the connector (client side only: naming and the
cluster client), not in ``cli/``, so every face can run it (issue #16).

    report = await diagnose(Inputs(alias="vhi-prod", port=8443, ca_file=Path("ca.pem")))
    for finding in report.findings:
        print(finding.code, finding.severity, finding.message, finding.fix)
"""

from hostgate.connector.diagnosis.checks import diagnose
from hostgate.connector.diagnosis.findings import (
    AddressReport,
    Check,
    Finding,
    Inputs,
    MemberEntry,
    Probe,
    Report,
    Severity,
    State,
)
from hostgate.connector.diagnosis.probes import probe

__all__ = [
    "AddressReport",
    "Check",
    "Finding",
    "Inputs",
    "MemberEntry",
    "Probe",
    "Report",
    "Severity",
    "State",
    "diagnose",
    "probe",
]
