"""A little clinical history per resident: encounters, conditions, observations, vaccines, drugs."""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import date, timedelta

from gansu_health.demo import codes
from gansu_health.demo.bundle import Resource, Transaction, at, coding, concept, fhir_datetime
from gansu_health.demo.people import Resident, age_on
from gansu_health.demo.registry import Clinician, Facility

_PREFERRED_DEPARTMENTS = {
    "I10": ("03.04", "03", "02"),
    "E11.9": ("03.07", "03", "02"),
    "E78.5": ("03.04", "03", "02"),
    "J06.9": ("03.01", "03", "07", "02"),
    "K29.7": ("03", "50", "02"),
    "M54.5": ("04.03", "04", "21", "50", "02"),
    "J45.9": ("03.01", "03", "07", "02"),
    "check": ("02", "01", "03"),
}
_ORAL = concept("http://snomed.info/sct", "26643006", "Oral route", "口服")
CHILDHOOD_VACCINATION_AGE = 14
_CLASSES = {False: ("AMB", "ambulatory", "门诊"), True: ("EMER", "emergency", "急诊")}
_INTERPRETATION = "http://terminology.hl7.org/CodeSystem/v3-ObservationInterpretation"


def _quantity(value: float, unit: str, code: str | None = None) -> Resource:
    return {"value": value, "unit": unit, "system": codes.UCUM, "code": code or unit}


@dataclass(slots=True)
class _Visit:
    encounter_id: str
    day: date
    facility: Facility
    clinician: Clinician


class ClinicalHistory:
    """Write one resident's history into a household transaction."""

    def __init__(self, rng: random.Random, as_of: date) -> None:
        self.rng = rng
        self.as_of = as_of

    def _choose(self, local: list[Facility], reason: str, age: int) -> tuple[Facility, Clinician]:
        departments = _PREFERRED_DEPARTMENTS[reason]
        if age < 14 and reason not in ("check",):
            departments = ("07", *departments)
        weights = {"primary": 5.0, "village": 2.0, "secondary": 3.0, "tertiary": 2.0}
        facility = self.rng.choices(local, [weights[f.spec.tier] for f in local])[0]
        for department in departments:
            matches = [c for c in facility.clinicians if c.department == department]
            if matches:
                return facility, self.rng.choice(matches)
        return facility, self.rng.choice(facility.clinicians)

    def _day(self, earliest: date) -> date:
        start = max(earliest, self.as_of - timedelta(days=730))
        return start + timedelta(days=self.rng.randrange(max(1, (self.as_of - start).days)))

    def _encounter(
        self,
        tx: Transaction,
        resident: Resident,
        local: list[Facility],
        reason: str,
        number: int,
    ) -> _Visit:
        age = age_on(resident.birth_date, self.as_of)
        facility, clinician = self._choose(local, reason, age)
        day = self._day(resident.birth_date)
        start = at(day, self.rng.randint(8, 16), self.rng.choice([0, 15, 30, 45]))
        encounter_id = f"{resident.patient_id}-enc-{number}"
        department = codes.DEPARTMENTS[clinician.department]
        emergency = clinician.department == "20"
        encounter: Resource = {
            "resourceType": "Encounter",
            "id": encounter_id,
            "status": "finished",
            "class": coding(codes.V3_ACT_CODE, *_CLASSES[emergency][:2]),
            "type": [
                concept(
                    codes.CS_DEPARTMENT, clinician.department, department, _CLASSES[emergency][2]
                )
            ],
            "serviceType": concept(codes.CS_DEPARTMENT, clinician.department, department),
            "subject": tx.ref("Patient", resident.patient_id, resident.name.text),
            "participant": [{"individual": tx.ref("PractitionerRole", clinician.role_id)}],
            "period": {
                "start": fhir_datetime(start),
                "end": fhir_datetime(start + timedelta(minutes=self.rng.randint(10, 40))),
            },
            "location": [{"location": tx.ref("Location", facility.spec.id, facility.spec.name)}],
            "serviceProvider": tx.ref("Organization", facility.spec.id, facility.spec.name),
        }
        if reason != "check":
            diagnosis = next(d for d in codes.DIAGNOSES if d.code == reason)
            encounter["reasonCode"] = [concept(codes.ICD10, reason, diagnosis.display)]
            condition_id = f"{resident.patient_id}-cond-{reason.replace('.', '')}"
            encounter["diagnosis"] = [
                {"condition": {"reference": tx.local_url("Condition", condition_id)}, "rank": 1}
            ]
        tx.put(encounter)
        return _Visit(encounter_id, day, facility, clinician)

    def _observation(
        self,
        tx: Transaction,
        resident: Resident,
        visit: _Visit,
        key: str,
        body: Resource,
    ) -> None:
        vital = key in ("bp", "hr", "weight")
        category = "vital-signs" if vital else "laboratory"
        moment = at(visit.day, 9 if not vital else 10, self.rng.randint(0, 59))
        resource: Resource = {
            "resourceType": "Observation",
            "id": f"{visit.encounter_id}-obs-{key}",
            "status": "final",
            "category": [
                concept(codes.OBSERVATION_CATEGORY, category, category.replace("-", " ").title())
            ],
            **body,
            "subject": tx.ref("Patient", resident.patient_id),
            "encounter": tx.ref("Encounter", visit.encounter_id),
            "effectiveDateTime": fhir_datetime(moment),
            "performer": [tx.ref("PractitionerRole", visit.clinician.role_id)],
        }
        tx.put(resource)

    def _measure(
        self, tx: Transaction, resident: Resident, visit: _Visit, chronic: set[str]
    ) -> None:
        rng = self.rng
        hypertensive = "I10" in chronic
        systolic = rng.randint(138, 168) if hypertensive else rng.randint(102, 134)
        diastolic = rng.randint(86, 102) if hypertensive else rng.randint(62, 86)
        self._observation(
            tx,
            resident,
            visit,
            "bp",
            {
                "code": concept(
                    codes.LOINC,
                    "85354-9",
                    "Blood pressure panel with all children optional",
                    "血压",
                ),
                "component": [
                    self._component("8480-6", "Systolic blood pressure", systolic, 90, 139),
                    self._component("8462-4", "Diastolic blood pressure", diastolic, 60, 89),
                ],
            },
        )
        self._observation(
            tx,
            resident,
            visit,
            "hr",
            {
                "code": concept(codes.LOINC, "8867-4", "Heart rate", "心率"),
                "valueQuantity": _quantity(rng.randint(60, 96), "/min"),
            },
        )
        diabetic = "E11.9" in chronic
        glucose = round(rng.uniform(6.6, 10.5) if diabetic else rng.uniform(4.2, 6.0), 1)
        self._lab(
            tx,
            resident,
            visit,
            "glu",
            "14771-0",
            "Fasting glucose [Moles/volume] in Serum or Plasma",
            "空腹血糖",
            _quantity(glucose, "mmol/L"),
            3.9,
            6.1,
        )
        if diabetic:
            hba1c = round(rng.uniform(6.4, 8.8), 1)
            self._lab(
                tx,
                resident,
                visit,
                "hba1c",
                "4548-4",
                "Hemoglobin A1c/Hemoglobin.total in Blood",
                "糖化血红蛋白",
                _quantity(hba1c, "%"),
                4.0,
                6.0,
            )

    @staticmethod
    def _component(code: str, display: str, value: int, low: int, high: int) -> Resource:
        return {
            "code": concept(codes.LOINC, code, display),
            "valueQuantity": _quantity(value, "mmHg", "mm[Hg]"),
            "referenceRange": [
                {"low": _quantity(low, "mmHg", "mm[Hg]"), "high": _quantity(high, "mmHg", "mm[Hg]")}
            ],
        }

    def _lab(
        self,
        tx: Transaction,
        resident: Resident,
        visit: _Visit,
        key: str,
        loinc: str,
        display: str,
        text: str,
        value: Resource,
        low: float,
        high: float,
    ) -> None:
        unit, ucum = value["unit"], value["code"]
        flag = "H" if value["value"] > high else "L" if value["value"] < low else "N"
        label = {"H": "High", "L": "Low", "N": "Normal"}[flag]
        self._observation(
            tx,
            resident,
            visit,
            key,
            {
                "code": concept(codes.LOINC, loinc, display, text),
                "valueQuantity": value,
                "interpretation": [concept(_INTERPRETATION, flag, label)],
                "referenceRange": [
                    {"low": _quantity(low, unit, ucum), "high": _quantity(high, unit, ucum)}
                ],
            },
        )

    def _condition(
        self,
        tx: Transaction,
        resident: Resident,
        visit: _Visit,
        diagnosis: codes.Diagnosis,
    ) -> None:
        age = age_on(resident.birth_date, self.as_of)
        years_ago = self.rng.randint(0, max(0, min(10, age - diagnosis.min_age)))
        onset = visit.day - timedelta(days=365 * years_ago) if diagnosis.chronic else visit.day
        resource: Resource = {
            "resourceType": "Condition",
            "id": f"{resident.patient_id}-cond-{diagnosis.code.replace('.', '')}",
            "clinicalStatus": concept(
                codes.CONDITION_CLINICAL,
                *(("active", "Active") if diagnosis.chronic else ("resolved", "Resolved")),
            ),
            "verificationStatus": concept(codes.CONDITION_VERIFICATION, "confirmed", "Confirmed"),
            "category": [
                concept(codes.CONDITION_CATEGORY, "problem-list-item", "Problem List Item")
                if diagnosis.chronic
                else concept(codes.CONDITION_CATEGORY, "encounter-diagnosis", "Encounter Diagnosis")
            ],
            "code": concept(codes.ICD10, diagnosis.code, diagnosis.display),
            "subject": tx.ref("Patient", resident.patient_id),
            "encounter": tx.ref("Encounter", visit.encounter_id),
            "onsetDateTime": fhir_datetime(at(max(onset, resident.birth_date), 9)),
            "recordedDate": fhir_datetime(at(visit.day, 11)),
            "recorder": tx.ref("PractitionerRole", visit.clinician.role_id),
        }
        if not diagnosis.chronic:
            resource["abatementDateTime"] = fhir_datetime(at(visit.day + timedelta(days=10), 9))
        tx.put(resource)

    def _prescription(
        self,
        tx: Transaction,
        resident: Resident,
        visit: _Visit,
        diagnosis: codes.Diagnosis,
    ) -> None:
        drug = next((d for d in codes.DRUGS if d.indication == diagnosis.code), None)
        if drug is None or (age_on(resident.birth_date, self.as_of) < 12 and diagnosis.chronic):
            return
        dose = f"{drug.dose:g}{'μg' if drug.unit == 'ug' else drug.unit}"
        route = "吸入" if drug.atc.startswith("R03") else "口服"
        dosage: Resource = {
            "text": f"每次{dose}，每日{drug.per_day}次，{route}",
            "timing": {"repeat": {"frequency": drug.per_day, "period": 1, "periodUnit": "d"}},
            "doseAndRate": [{"doseQuantity": _quantity(drug.dose, drug.unit)}],
        }
        if route == "口服":
            dosage["route"] = _ORAL
        tx.put(
            {
                "resourceType": "MedicationRequest",
                "id": f"{visit.encounter_id}-rx-{drug.atc}",
                "status": "active" if diagnosis.chronic else "completed",
                "intent": "order",
                "medicationCodeableConcept": concept(codes.ATC, drug.atc, drug.display),
                "subject": tx.ref("Patient", resident.patient_id),
                "encounter": tx.ref("Encounter", visit.encounter_id),
                "authoredOn": fhir_datetime(at(visit.day, 11, self.rng.randint(0, 59))),
                "requester": tx.ref("PractitionerRole", visit.clinician.role_id),
                "reasonCode": [concept(codes.ICD10, diagnosis.code, diagnosis.display)],
                "dosageInstruction": [dosage],
                "dispenseRequest": {
                    "expectedSupplyDuration": _quantity(30 if diagnosis.chronic else 5, "d")
                },
            }
        )

    def _immunizations(self, tx: Transaction, resident: Resident, primary: Facility) -> None:
        for vaccine in codes.NIP_VACCINES:
            for dose_number, months in enumerate(vaccine.dose_months, start=1):
                day = resident.birth_date + timedelta(
                    days=int(months * 30.4) + self.rng.randint(0, 14)
                )
                if months == 0:
                    day = resident.birth_date
                if day > self.as_of:
                    break
                codings = [coding(codes.CS_NIP_VACCINE, vaccine.code, vaccine.display)]
                if vaccine.cvx:
                    codings.append(coding(codes.CVX, vaccine.cvx))
                tx.put(
                    {
                        "resourceType": "Immunization",
                        "id": f"{resident.patient_id}-imm-{vaccine.code}-{dose_number}",
                        "status": "completed",
                        "vaccineCode": {"coding": codings, "text": vaccine.display},
                        "patient": tx.ref("Patient", resident.patient_id),
                        "occurrenceDateTime": fhir_datetime(at(day, self.rng.randint(9, 16))),
                        "primarySource": True,
                        "location": tx.ref("Location", primary.spec.id),
                        "lotNumber": f"{day.year}{self.rng.randrange(10**6):06d}",
                        "performer": [{"actor": tx.ref("Organization", primary.spec.id)}],
                        "protocolApplied": [
                            {"series": "国家免疫规划", "doseNumberPositiveInt": dose_number}
                        ],
                    }
                )

    def write(
        self,
        tx: Transaction,
        resident: Resident,
        local: list[Facility],
        primary: Facility,
    ) -> None:
        """Add the resident's encounters, conditions, observations, drugs and vaccines to ``tx``."""
        age = age_on(resident.birth_date, self.as_of)
        found = [
            d for d in codes.DIAGNOSES if age >= d.min_age and self.rng.random() < d.probability
        ]
        chronic = {d.code for d in found if d.chronic}
        number = 0
        for diagnosis in found:
            number += 1
            visit = self._encounter(tx, resident, local, diagnosis.code, number)
            self._condition(tx, resident, visit, diagnosis)
            self._prescription(tx, resident, visit, diagnosis)
            if age >= 18 and (diagnosis.chronic or number == 1):
                self._measure(tx, resident, visit, chronic)
        if not found or (age >= 60 and self.rng.random() < 0.7):
            number += 1
            visit = self._encounter(tx, resident, local, "check", number)
            if age >= 18:
                self._measure(tx, resident, visit, chronic)
        if age < CHILDHOOD_VACCINATION_AGE:
            self._immunizations(tx, resident, primary)
