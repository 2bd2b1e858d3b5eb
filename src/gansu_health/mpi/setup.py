"""Plug the master patient index into the FHIR endpoint: write hooks and operations.

Conventions (see the modules for details):

* Every source Patient links to exactly one golden record: a Patient tagged
  ``http://hapifhir.io/fhir/NamingSystem/mdm-record-status|GOLDEN_RECORD`` (HAPI MDM's tag)
  whose ``link`` lists its sources (``seealso``) and whose identifier is the enterprise id,
  system ``https://gansu-health.cn/fhir/sid/empi`` (``settings.EMPI_SYSTEM``), value ``GS`` +
  16 hex digits. Sources get the same identifier (``use: secondary``) when they are written.
* Finding things: ``Patient?identifier=<empi>|<id>`` gives the golden record and its sources
  (add ``_tag=…|GOLDEN_RECORD`` for the golden record only, ``_tag:not=…`` for sources only);
  ``Patient?link=Patient/<source>`` gives a source's golden record;
  ``Patient?_id=<golden>&_include=Patient:link`` a golden record with its sources.
* ``Patient/$match`` answers golden records; ``Patient/$ihe-pix`` the source identifiers, the
  enterprise id and the Patient ids of the same person; the ``$mdm-*`` operations manage links.
* ``GANSU_HEALTH_MPI_IDENTITY_POLICY=flag`` stores invalid resident ids tagged
  ``https://gansu-health.cn/fhir/CodeSystem/mpi|unverified-identity`` instead of rejecting them
  (400); ``GANSU_HEALTH_MPI_ENABLED=false`` turns the MPI off.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from gansu_health.mpi import mdm_operations, operations
from gansu_health.mpi.service import MpiService, attach
from gansu_health.mpi.settings import MpiSettings

if TYPE_CHECKING:
    from gansu_health.fhir.rest.dispatch import FhirApi


def setup(api: FhirApi) -> None:
    """Register the Patient write hooks, $match, $ihe-pix and the $mdm-* operations."""
    settings = MpiSettings()
    if not settings.enabled:
        return
    store = api.service.store
    mpi = MpiService(store, api.settings.node_id, settings)
    store.on_before_write("Patient", mpi.before_write)
    store.on_after_write("Patient", mpi.after_write)
    operations.register(api.registry)
    mdm_operations.register(api.registry)
    attach(api, mpi)
