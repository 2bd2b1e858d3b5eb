"""Code systems and code tables used by the demo province (ours, ICD-10, LOINC, UCUM, ATC)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

BASE: Final = "https://gansu-health.cn/fhir"
CS_INSTITUTION_LEVEL: Final = f"{BASE}/CodeSystem/institution-level"
CS_INSTITUTION_TYPE: Final = f"{BASE}/CodeSystem/institution-type"
CS_DEPARTMENT: Final = f"{BASE}/CodeSystem/department"
CS_PRACTITIONER_TITLE: Final = f"{BASE}/CodeSystem/practitioner-title"
CS_QUALIFICATION: Final = f"{BASE}/CodeSystem/practitioner-qualification"
CS_NIP_VACCINE: Final = f"{BASE}/CodeSystem/nip-vaccine"
CS_ETHNICITY: Final = f"{BASE}/CodeSystem/ethnicity"
CS_ADMIN_DIVISION: Final = f"{BASE}/CodeSystem/administrative-division"
EXT_ADMIN_DIVISION: Final = f"{BASE}/StructureDefinition/administrative-division"
EXT_ETHNICITY: Final = f"{BASE}/StructureDefinition/ethnicity"
SID_INSTITUTION: Final = f"{BASE}/sid/institution"
SID_PLATFORM_NODE: Final = f"{BASE}/sid/platform-node"
SID_PHYSICIAN_LICENCE: Final = f"{BASE}/sid/physician-licence"
SID_BIRTH_CERTIFICATE: Final = f"{BASE}/sid/birth-certificate"
SID_HEALTH_RECORD: Final = f"{BASE}/sid/health-record"

ICD10: Final = "http://hl7.org/fhir/sid/icd-10"
LOINC: Final = "http://loinc.org"
UCUM: Final = "http://unitsofmeasure.org"
ATC: Final = "http://www.whocc.no/atc"
CVX: Final = "http://hl7.org/fhir/sid/cvx"
V2_0203: Final = "http://terminology.hl7.org/CodeSystem/v2-0203"
V3_ACT_CODE: Final = "http://terminology.hl7.org/CodeSystem/v3-ActCode"
HL7_ORG_TYPE: Final = "http://terminology.hl7.org/CodeSystem/organization-type"
HL7_PRACTITIONER_ROLE: Final = "http://terminology.hl7.org/CodeSystem/practitioner-role"
OBSERVATION_CATEGORY: Final = "http://terminology.hl7.org/CodeSystem/observation-category"
CONDITION_CLINICAL: Final = "http://terminology.hl7.org/CodeSystem/condition-clinical"
CONDITION_VERIFICATION: Final = "http://terminology.hl7.org/CodeSystem/condition-ver-status"
CONDITION_CATEGORY: Final = "http://terminology.hl7.org/CodeSystem/condition-category"
LOCATION_PHYSICAL_TYPE: Final = "http://terminology.hl7.org/CodeSystem/location-physical-type"
V2_0131: Final = "http://terminology.hl7.org/CodeSystem/v2-0131"

LEVELS: Final = {
    "3A": "三级甲等",
    "3B": "三级乙等",
    "2A": "二级甲等",
    "2B": "二级乙等",
    "1": "一级",
    "U": "未定级",
}

INSTITUTION_TYPES: Final = {
    "general": "综合医院",
    "tcm": "中医医院",
    "ethnic": "民族医医院",
    "mch": "妇幼保健院",
    "chc": "社区卫生服务中心",
    "thc": "乡镇卫生院",
    "village": "村卫生室",
    "commission": "卫生健康行政部门",
    "data-centre": "全民健康信息平台数据中心",
}

DEPARTMENTS: Final = {
    "01": "预防保健科",
    "02": "全科医疗科",
    "03": "内科",
    "03.01": "呼吸内科专业",
    "03.04": "心血管内科专业",
    "03.07": "内分泌专业",
    "04": "外科",
    "04.01": "普通外科专业",
    "04.03": "骨科专业",
    "05": "妇产科",
    "06": "妇女保健科",
    "07": "儿科",
    "09": "儿童保健科",
    "20": "急诊医学科",
    "21": "康复医学科",
    "50": "中医科",
    "51": "民族医学科",
    "52": "中西医结合科",
}

DEPARTMENTS_BY_KIND: Final[dict[str, tuple[str, ...]]] = {
    "tertiary-general": ("03.04", "03.07", "03.01", "04.01", "04.03", "05", "07", "20", "50"),
    "tertiary-tcm": ("50", "03", "21", "52"),
    "tertiary-mch": ("05", "07", "06", "09"),
    "secondary-general": ("03", "04", "05", "07", "20", "50"),
    "secondary-tcm": ("50", "03", "21"),
    "secondary-ethnic": ("51", "03", "50"),
    "primary": ("02", "01"),
    "village": ("02",),
}

TITLES: Final = {
    "chief": "主任医师",
    "associate-chief": "副主任医师",
    "attending": "主治医师",
    "resident": "住院医师",
    "village-doctor": "乡村医生",
}

ETHNICITIES: Final = {"01": "汉族", "03": "回族", "04": "藏族", "26": "东乡族"}


@dataclass(frozen=True, slots=True)
class Diagnosis:
    """An ICD-10 diagnosis with the age band and yearly chance used by the generator."""

    code: str
    display: str
    min_age: int
    probability: float
    chronic: bool


DIAGNOSES: Final = (
    Diagnosis("I10", "特发性（原发性）高血压", 35, 0.30, True),
    Diagnosis("E11.9", "2型糖尿病，不伴有并发症", 35, 0.12, True),
    Diagnosis("E78.5", "高脂血症", 30, 0.10, True),
    Diagnosis("J06.9", "急性上呼吸道感染", 0, 0.35, False),
    Diagnosis("K29.7", "胃炎", 16, 0.10, False),
    Diagnosis("M54.5", "下背痛", 25, 0.08, False),
    Diagnosis("J45.9", "哮喘", 5, 0.03, True),
)


@dataclass(frozen=True, slots=True)
class Drug:
    """An ATC-coded drug with a Chinese display and dosing for one indication."""

    atc: str
    display: str
    indication: str
    dose: float
    unit: str
    per_day: int


DRUGS: Final = (
    Drug("C08CA01", "苯磺酸氨氯地平片", "I10", 5, "mg", 1),
    Drug("C09CA03", "缬沙坦胶囊", "I10", 80, "mg", 1),
    Drug("A10BA02", "盐酸二甲双胍片", "E11.9", 500, "mg", 3),
    Drug("C10AA05", "阿托伐他汀钙片", "E78.5", 20, "mg", 1),
    Drug("N02BE01", "对乙酰氨基酚片", "J06.9", 500, "mg", 3),
    Drug("A02BC01", "奥美拉唑肠溶胶囊", "K29.7", 20, "mg", 1),
    Drug("M01AE01", "布洛芬缓释胶囊", "M54.5", 300, "mg", 2),
    Drug("R03AC02", "沙丁胺醇气雾剂", "J45.9", 100, "ug", 2),
)


@dataclass(frozen=True, slots=True)
class Vaccine:
    """A National Immunization Programme vaccine and the ages (months) of its doses."""

    code: str
    display: str
    dose_months: tuple[int, ...]
    cvx: str | None


NIP_VACCINES: Final = (
    Vaccine("HepB", "乙肝疫苗", (0, 1, 6), "08"),
    Vaccine("BCG", "卡介苗", (0,), "19"),
    Vaccine("IPV", "脊灰灭活疫苗", (2, 3), "10"),
    Vaccine("bOPV", "脊灰减毒活疫苗", (4, 48), None),
    Vaccine("DTaP", "百白破疫苗", (3, 4, 5, 18), "20"),
    Vaccine("DT", "白破疫苗", (72,), None),
    Vaccine("MMR", "麻腮风疫苗", (8, 18), "03"),
    Vaccine("JE-L", "乙脑减毒活疫苗", (8, 24), None),
    Vaccine("MPSV-A", "A群流脑多糖疫苗", (6, 9), None),
    Vaccine("MPSV-AC", "A群C群流脑多糖疫苗", (36, 72), None),
    Vaccine("HepA-L", "甲肝减毒活疫苗", (18,), None),
)
