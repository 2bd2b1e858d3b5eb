"""Plug the master patient index into the FHIR endpoint: write hooks and operations.

Conventions (see the modules for details):

* Every source Patient links to exactly one golden record, its master **Person**: a FHIR R4
  Person tagged ``http://hapifhir.io/fhir/NamingSystem/mdm-record-status|GOLDEN_RECORD``
  (HAPI MDM's tag) whose identifier is the enterprise id, system
  ``https://gansu-health.cn/fhir/sid/empi`` (``settings.EMPI_SYSTEM``), value ``GS`` + 16 hex
  digits. Sources get the same identifier (``use: secondary``) when they are written. Being a
  Person, a golden record never shows up in Patient searches or counts (PDQm ITI-78).
* The Person carries the survivorship demographics (name, gender, birthDate, telecom, address;
  no resident or hospital ids) and ``link[]`` to each source with a MATCH link:
  ``assurance`` ``level3`` for an automatic certain match, ``level4`` for a data steward's
  (MANUAL) one. POSSIBLE_MATCH links are left out of ``Person.link`` (they are not the same
  person yet: they wait in ``$mdm-review-queue``), so ``Person?patient=`` names one Person.
  A Person without sources is ``active: false``; one merged into another is ``active: false``,
  tagged ``REDIRECTED`` and links to the surviving ``Person/<id>``, which links back to it.
* Finding things: ``Person?identifier=<empi>|<id>`` gives the golden record,
  ``Patient?identifier=<empi>|<id>`` its sources; ``Person?patient=Patient/<source>`` (or
  ``Person?link=Patient/<source>``) a source's golden record;
  ``Person?_id=<golden>&_include=Person:patient`` a golden record with its sources. Persons are
  in the Patient compartment (``Person.patient``), so ``Patient/<source>/$everything`` includes
  the master Person.
* ``Patient/$match`` (R4, IHE PDQm ITI-119) scores golden Persons but answers Patients, as both
  specifications require: one ``search.mode = match`` entry per matching golden Person, holding
  the source Patient that scored best against the input, with ``search.score`` and the
  ``match-grade`` extension; ``total`` counts those entries. The Person is not added as an
  ``include`` entry (the PDQm Match Output Bundle holds Patients only); the Patient carries its
  enterprise id. ``Patient/$ihe-pix`` (PIXm ITI-83) answers the source identifiers, the
  enterprise id and the Patient ids of the same person; ``Person/<golden>`` is a ``targetId``
  only when ``targetSystem`` names the enterprise id system. The ``$mdm-*`` operations manage
  links; their ``goldenResourceId`` values are ``Person/<id>``.
* Clients cannot create, update or delete golden Persons (422), nor write a Patient carrying
  the golden-record tag; other Persons are ordinary resources.
* ``GANSU_HEALTH_MPI_IDENTITY_POLICY=flag`` stores invalid resident ids tagged
  ``https://gansu-health.cn/fhir/CodeSystem/mpi|unverified-identity`` instead of rejecting them
  (400); ``GANSU_HEALTH_MPI_ENABLED=false`` turns the MPI off.
* With field encryption on, the MPI's tables hold no plaintext identities: sealed features,
  HMAC-SM3 blocking keys and identifiers (``mpi.protect``), re-keyed by ``keys reencrypt``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from gansu_health.identity.fields import field_cipher
from gansu_health.mpi import mdm_operations, operations
from gansu_health.mpi.golden import GOLDEN_TYPE
from gansu_health.mpi.protect import MpiVault
from gansu_health.mpi.rekey import register_rekey
from gansu_health.mpi.service import MpiService, attach
from gansu_health.mpi.settings import MpiSettings

if TYPE_CHECKING:
    from gansu_health.fhir.rest.dispatch import FhirApi


def setup(api: FhirApi) -> None:
    """Register the Patient and Person write hooks, $match, $ihe-pix and the $mdm-* operations."""
    settings = MpiSettings()
    if not settings.enabled:
        return
    store = api.service.store
    mpi = MpiService(store, api.settings.node_id, settings,
                     vault=MpiVault(field_cipher(api.settings)))
    store.on_before_write_many("Patient", mpi.before_write_many)
    store.on_before_write("Patient", mpi.before_write)
    store.on_after_write("Patient", mpi.after_write)
    store.on_before_write(GOLDEN_TYPE, mpi.before_person_write)
    store.on_after_write(GOLDEN_TYPE, mpi.after_person_write)
    operations.register(api.registry)
    mdm_operations.register(api.registry)
    attach(api, mpi)
    register_rekey(api, mpi)
