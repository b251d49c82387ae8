"""QTI question packages in and out (issue 33 §3): reading and writing the XML, nothing else.

Read: `read_package(bytes)` → a `Package` (title, description, the questions in the shapes
quiz.add_question takes, the items it could not map and why, warnings for what it simplified). It
knows three flavours:
- QTI 1.2 as Canvas imports and exports it (and text2qti writes it): `questestinterop` documents,
  Canvas's `question_type` metadata, `response_lid` / `response_str`, scores from `resprocessing`;
- QTI 2.1 (`assessmentItem` documents, `imsqti_v2p1`) and QTI 3.0 (`qti-assessment-item`,
  `imsqtiasi_v3p0`): choice, text entry and extended text interactions. 3.0 is 2.1 with kebab-case,
  `qti-` prefixed names, so its tree is renamed to 2.1's and read by the same code.
Which questions may be written, and whether they are valid, the database decides
(internal.quiz_import_qti_finish): this module only maps shapes.

Hostile input is refused before it costs anything (PackageError, reason `qti_unsafe` or
`qti_too_large`): XML is parsed by defusedxml with DTDs forbidden (no entities: no billion laughs,
no external entities), trees deeper than MAX_DEPTH or larger than MAX_ELEMENTS are refused while
they are parsed; archive members are read by name from memory (nothing is extracted to disk), and a
member whose name is absolute or climbs out of the archive, more than MAX_MEMBERS members, a member
inflating past MAX_MEMBER_BYTES (read with a bound, whatever its header claims) or an archive
inflating past MAX_TOTAL_BYTES is refused.

Write: `write_package(quiz, version)` → the bytes of a zip in QTI 1.2 (Canvas), 2.1 or 3.0, which
`read_package` reads back to the same questions (text, type, options, key, points, tolerance,
essay guidance).
"""

from __future__ import annotations

import io
import re
import zipfile
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from html.parser import HTMLParser
from xml.etree import ElementTree as ET  # writing only: what we build, never what we read

from defusedxml import ElementTree as SafeET
from defusedxml.common import DefusedXmlException

MAX_MEMBERS = 2000
MAX_MEMBER_BYTES = 10 << 20
MAX_TOTAL_BYTES = 100 << 20
MAX_DEPTH = 64
MAX_ELEMENTS = 200_000
MAX_ITEMS = 1000
VERSIONS = ("1.2", "2.1", "3.0")
NS_21 = "http://www.imsglobal.org/xsd/imsqti_v2p1"
NS_30 = "http://www.imsglobal.org/xsd/imsqtiasi_v3p0"
NS_12 = "http://www.imsglobal.org/xsd/ims_qtiasiv1p2"
NS_CP = "http://www.imsglobal.org/xsd/imscp_v1p1"
OUR_TYPES = ("multiple_choice", "true_false", "short_answer", "multiple_answer", "numeric", "essay")
CANVAS_TYPES = {"multiple_choice_question": "multiple_choice", "true_false_question": "true_false",
                "short_answer_question": "short_answer", "multiple_answers_question": "multiple_answer",
                "numerical_question": "numeric", "essay_question": "essay"}
TO_CANVAS = {ours: canvas for canvas, ours in CANVAS_TYPES.items()}
BLOCKS = {"p", "div", "br", "li", "ul", "ol", "h1", "h2", "h3", "h4", "h5", "h6", "pre", "blockquote", "tr", "table"}


class PackageError(Exception):
    """The package is refused as a whole: `reason` is the error's data.reason."""

    def __init__(self, reason: str, message: str):
        super().__init__(message)
        self.reason, self.message = reason, message


class Unsupported(Exception):
    """One item this LMS cannot represent; the message says why."""


@dataclass
class Package:
    title: str | None = None
    description: str | None = None
    items: list[dict] = field(default_factory=list)
    unsupported: list[dict] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)


# ------------------------------------------------------------------------------------------ reading XML
def local(tag: str) -> str:
    return tag.rsplit("}", 1)[-1] if isinstance(tag, str) else ""


def camel(name: str) -> str:
    head, *rest = name.split("-")
    return head + "".join(part[:1].upper() + part[1:] for part in rest)


def parse_xml(data: bytes, name: str) -> ET.Element:
    """A document's root with local names (QTI 3.0's renamed to 2.1's): defused, bounded in depth and size."""
    depth = elements = 0
    root = None
    try:
        for event, element in SafeET.iterparse(io.BytesIO(data), events=("start", "end"), forbid_dtd=True):
            if event == "end":
                depth -= 1
                continue
            depth += 1
            elements += 1
            if root is None:
                root = element
            if depth > MAX_DEPTH:
                raise PackageError("qti_unsafe", f"{name}: XML nested deeper than {MAX_DEPTH} elements")
            if elements > MAX_ELEMENTS:
                raise PackageError("qti_too_large", f"{name}: more than {MAX_ELEMENTS} XML elements")
    except DefusedXmlException as exc:
        raise PackageError("qti_unsafe", f"{name}: refused ({type(exc).__name__}: DTDs and entities are not"
                                         " allowed)") from None
    except ET.ParseError as exc:
        raise PackageError("qti_invalid", f"{name}: not well-formed XML ({exc})") from None
    if root is None:
        raise PackageError("qti_invalid", f"{name}: empty document")
    for element in root.iter():
        tag = local(element.tag)
        if tag.startswith("qti-"):
            tag = camel(tag[4:])
        element.tag = tag
        if any("-" in key or "}" in key for key in element.attrib):
            element.attrib = {camel(local(key)): value for key, value in element.attrib.items()}
    return root


class _Text(HTMLParser):
    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []

    def handle_starttag(self, tag, attrs):
        if tag in BLOCKS:
            self.parts.append("\n")
        elif tag == "img":
            alt = dict(attrs).get("alt")
            self.parts.append(f"[{alt}]" if alt else "[image]")

    def handle_endtag(self, tag):
        if tag in BLOCKS and tag != "br":
            self.parts.append("\n")

    def handle_data(self, data):
        self.parts.append(data)


def tidy(text: str) -> str:
    """Lines without their outer white space, no runs of blank lines, no blank ends."""
    lines = [re.sub(r"[ \t\r\f\v]+", " ", line).strip() for line in text.split("\n")]
    out: list[str] = []
    for line in lines:
        if line or (out and out[-1]):
            out.append(line)
    return "\n".join(out).strip()


def html_text(markup: str) -> str:
    parser = _Text()
    parser.feed(markup)
    parser.close()
    return tidy("".join(parser.parts))


def tree_text(element: ET.Element, skip: frozenset = frozenset()) -> str:
    """The text of an XHTML subtree (QTI 2.x item bodies), block elements as line breaks, `skip` left out."""
    parts: list[str] = []
    stack: list[tuple[ET.Element | str, bool]] = [(element, True)]
    while stack:
        node, opening = stack.pop()
        if isinstance(node, str):
            parts.append(node)
            continue
        tag = node.tag
        if not opening:
            if tag in BLOCKS and tag != "br":
                parts.append("\n")
            if node.tail and node is not element:
                parts.append(node.tail)
            continue
        if node is not element and tag in skip:
            if node.tail:
                parts.append(node.tail)
            continue
        if tag in BLOCKS:
            parts.append("\n")
        if tag == "img":
            parts.append(f"[{node.get('alt')}]" if node.get("alt") else "[image]")
        stack.append((node, False))
        for child in reversed(list(node)):
            stack.append((child, True))
        if node.text:
            stack.append((node.text, True))
    return tidy("".join(parts))


def number(text: str | None) -> Decimal:
    try:
        value = Decimal((text or "").strip())
    except InvalidOperation:
        raise Unsupported(f"{text!r} is not a number") from None
    if not value.is_finite():
        raise Unsupported(f"{text!r} is not a finite number")
    return value


def plain(value: Decimal) -> str:
    """A number as PostgreSQL's numeric reads it, without exponent or trailing zeros: 3.1400 → 3.14."""
    text = format(value.normalize(), "f")
    return "0" if text in ("-0", "") else text


def points_of(value: str | None, warnings: list[str], where: str) -> int:
    if value is None or not value.strip():
        return 1
    try:
        points = Decimal(value.strip())
    except InvalidOperation:
        return 1
    whole = max(1, int(points.to_integral_value()))
    if points != whole:
        warnings.append(f"{where}: {value.strip()} points rounded to {whole} (points are whole numbers ≥ 1)")
    return whole


# ------------------------------------------------------------------------------------------ QTI 1.2
def mattext(element: ET.Element | None) -> str:
    if element is None:
        return ""
    texts = []
    for node in element.iter("mattext"):
        content = node.text or ""
        texts.append(html_text(content) if "html" in (node.get("texttype") or "") else tidy(content))
    return tidy("\n".join(texts))


def scoring_conditions(item: ET.Element) -> list[ET.Element]:
    """The conditionvars of the respconditions that give a score above 0."""
    found = []
    for condition in item.iter("respcondition"):
        for setvar in condition.iter("setvar"):
            try:
                scored = Decimal((setvar.text or "0").strip()) > 0
            except InvalidOperation:
                scored = False
            if scored and setvar.get("action", "Set") in ("Set", "Add"):
                var = condition.find("conditionvar")
                if var is not None:
                    found.append(var)
                break
    return found


def item_12(item: ET.Element, warnings: list[str]) -> dict:
    where = item.get("title") or item.get("ident") or "item"
    meta = {(f.findtext("fieldlabel") or "").strip(): (f.findtext("fieldentry") or "").strip()
            for f in item.iter("qtimetadatafield")}
    presentation = item.find("presentation")
    if presentation is None:
        raise Unsupported("no presentation")
    text = mattext(presentation.find("material"))
    lids, strs = list(presentation.iter("response_lid")), list(presentation.iter("response_str"))
    canvas = meta.get("question_type")
    if canvas:
        kind = CANVAS_TYPES.get(canvas)
        if kind is None:
            raise Unsupported(f"question type {canvas}")
    elif len(lids) + len(strs) != 1:
        raise Unsupported("not exactly one response")
    elif lids:
        kind = "multiple_answer" if lids[0].get("rcardinality") == "Multiple" else "multiple_choice"
    else:
        fib = strs[0].find("render_fib")
        if fib is not None and fib.get("fibtype") in ("Decimal", "Integer"):
            kind = "numeric"
        else:
            kind = "short_answer" if scoring_conditions(item) else "essay"
    if len(lids) + len(strs) != 1:
        raise Unsupported(f"{canvas or kind} with {len(lids) + len(strs)} responses")
    question = {"question_text": text, "question_type": kind,
                "points": points_of(meta.get("points_possible"), warnings, where)}
    conditions = scoring_conditions(item)
    if kind in ("multiple_choice", "true_false", "multiple_answer"):
        if not lids:
            raise Unsupported("a choice question without response_lid")
        labels = {label.get("ident"): mattext(label) for label in lids[0].iter("response_label")}
        if not conditions:
            raise Unsupported("no correct choice")
        right = [v.text.strip() for v in conditions[0].iter("varequal") if v.text
                 and v not in {n for neg in conditions[0].iter("not") for n in neg.iter("varequal")}]
        right = [labels.get(ident) for ident in right]
        if None in right or not right:
            raise Unsupported("the correct choice is not among the choices")
        if kind == "true_false":
            if sorted(label.lower() for label in labels.values()) != ["false", "true"]:
                kind = question["question_type"] = "multiple_choice"
            else:
                question["correct_answer"] = right[0].lower()
                return question
        question["options"] = list(labels.values())
        question["correct_answer"] = right if kind == "multiple_answer" else right[0]
        if kind == "multiple_choice" and len(conditions) > 1:
            warnings.append(f"{where}: several choices scored; only the first is kept as right")
        return question
    if kind == "essay":
        if meta.get("grading_guidance"):
            question["correct_answer"] = meta["grading_guidance"]
        return question
    if not conditions:
        raise Unsupported(f"a {kind} question without a correct answer")
    if kind == "short_answer":
        answers = [v.text.strip() for var in conditions for v in var.iter("varequal") if v.text and v.text.strip()]
        if not answers:
            raise Unsupported("no accepted answer")
        if len(answers) > 1:
            warnings.append(f"{where}: {len(answers)} accepted answers; only the first, {answers[0]!r}, is kept")
        question["correct_answer"] = answers[0]
        return question
    # numeric: an exact answer (varequal, with an optional margin as an and of vargte/varlte) or a range
    var = conditions[0]
    exact = [v.text for v in var.iter("varequal")]
    low = [v.text for v in var.iter("vargte")] + [v.text for v in var.iter("vargt")]
    high = [v.text for v in var.iter("varlte")] + [v.text for v in var.iter("varlt")]
    if exact:
        answer = number(exact[0])
        tolerance = max(answer - number(low[0]), number(high[0]) - answer) if low and high else Decimal(0)
    elif low and high:
        lo, hi = number(low[0]), number(high[0])
        answer, tolerance = (lo + hi) / 2, (hi - lo) / 2
    else:
        raise Unsupported("a numeric answer that is neither a value nor a range")
    if len(conditions) > 1:
        warnings.append(f"{where}: several numeric answers; only the first is kept")
    question["correct_answer"] = plain(answer)
    question["tolerance"] = plain(tolerance) if tolerance else None
    return question


def read_12(root: ET.Element, package: Package) -> None:
    assessment = root.find("assessment")
    if assessment is not None and package.title is None:
        package.title = assessment.get("title")
    for item in root.iter("item"):
        collect(package, item.get("title") or item.get("ident"), item.get("ident"),
                lambda item=item: item_12(item, package.warnings))


# ------------------------------------------------------------------------------------------ QTI 2.1 / 3.0
INTERACTIONS = {"choiceInteraction", "textEntryInteraction", "extendedTextInteraction", "orderInteraction",
                "matchInteraction", "associateInteraction", "gapMatchInteraction", "inlineChoiceInteraction",
                "hotspotInteraction", "hottextInteraction", "sliderInteraction", "uploadInteraction",
                "drawingInteraction", "graphicOrderInteraction", "graphicGapMatchInteraction",
                "graphicAssociateInteraction", "selectPointInteraction", "positionObjectInteraction",
                "mediaInteraction", "customInteraction", "endAttemptInteraction", "portableCustomInteraction"}


def item_2x(root: ET.Element, warnings: list[str]) -> dict:
    where = root.get("title") or root.get("identifier") or "item"
    body = root.find("itemBody")
    if body is None:
        raise Unsupported("no itemBody")
    interactions = [e for e in body.iter() if e.tag in INTERACTIONS]
    if len(interactions) != 1:
        names = sorted({e.tag for e in interactions}) or ["no interaction"]
        raise Unsupported(f"{len(interactions)} interactions ({', '.join(names)}); one is supported")
    interaction = interactions[0]
    declarations = {d.get("identifier"): d for d in root.iter("responseDeclaration")}
    declaration = declarations.get(interaction.get("responseIdentifier"))
    correct = [v.text.strip() for v in declaration.iter("value") if v.text] if declaration is not None else []
    text = tree_text(body, frozenset(INTERACTIONS | {"rubricBlock"}))
    prompt = interaction.find("prompt")
    if prompt is not None:
        text = tidy(text + "\n" + tree_text(prompt))
    maxima = [d for d in root.iter("outcomeDeclaration") if d.get("identifier") == "MAXSCORE"]
    score = [d for d in root.iter("outcomeDeclaration") if d.get("identifier") == "SCORE"]
    maximum = maxima[0].findtext("defaultValue/value") if maxima else (score[0].get("normalMaximum") if score else None)
    question = {"question_text": text, "points": points_of(maximum, warnings, where)}
    label = root.get("label")
    if interaction.tag == "choiceInteraction":
        choices = {c.get("identifier"): tree_text(c) for c in interaction.iter("simpleChoice")}
        right = [choices.get(ident) for ident in correct]
        if not right or None in right:
            raise Unsupported("no correct choice among the choices")
        single = interaction.get("maxChoices", "1") == "1" and (declaration is None or declaration.get(
            "cardinality", "single") == "single")
        if single and label != "multiple_choice" and sorted(t.lower() for t in choices.values()) == ["false", "true"]:
            return question | {"question_type": "true_false", "correct_answer": right[0].lower()}
        if single and len(right) > 1:
            warnings.append(f"{where}: several correct choices for a single choice; only the first is kept")
        return question | {"question_type": "multiple_choice" if single else "multiple_answer",
                           "options": list(choices.values()), "correct_answer": right[0] if single else right}
    if interaction.tag == "extendedTextInteraction":
        guidance = [tree_text(r) for r in root.iter("rubricBlock") if "scorer" in (r.get("view") or "")]
        return question | {"question_type": "essay", "correct_answer": tidy("\n".join(guidance)) or None}
    if interaction.tag == "textEntryInteraction":
        if not correct:
            raise Unsupported("a text entry without a correct response")
        if len(correct) > 1:
            warnings.append(f"{where}: {len(correct)} correct responses; only the first is kept")
        base = declaration.get("baseType") if declaration is not None else "string"
        if base in ("float", "integer"):
            tolerance = Decimal(0)
            for equal in root.iter("equal"):
                if equal.get("toleranceMode") == "absolute" and equal.get("tolerance"):
                    tolerance = max(number(t) for t in equal.get("tolerance").split())
            return question | {"question_type": "numeric", "correct_answer": plain(number(correct[0])),
                               "tolerance": plain(tolerance) if tolerance else None}
        return question | {"question_type": "short_answer", "correct_answer": correct[0]}
    raise Unsupported(f"{interaction.tag} is not supported")


# ------------------------------------------------------------------------------------------ the package
def collect(package: Package, title: str | None, ident: str | None, read) -> None:
    if len(package.items) + len(package.unsupported) >= MAX_ITEMS:
        raise PackageError("qti_too_large", f"more than {MAX_ITEMS} items")
    try:
        question = read()
    except Unsupported as exc:
        package.unsupported.append({"item": ident, "title": title, "reason": str(exc)})
        return
    if not question.get("question_text"):
        package.unsupported.append({"item": ident, "title": title, "reason": "no question text"})
        return
    package.items.append({"item": ident, "title": title, **question})


def safe_name(name: str) -> bool:
    parts = name.replace("\\", "/").split("/")
    return not (name.startswith(("/", "\\")) or re.match(r"^[A-Za-z]:", name) or ".." in parts or "\x00" in name)


def members(data: bytes) -> dict[str, bytes]:
    """The XML members of a zip by name, bounded; or one bare XML document."""
    if not data.startswith(b"PK"):
        if data.lstrip()[:1] != b"<":
            raise PackageError("qti_invalid", "not a QTI package (a zip) nor a QTI XML document")
        return {"item.xml": data}
    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
        infos = archive.infolist()
    except (zipfile.BadZipFile, ValueError, OSError) as exc:
        raise PackageError("qti_invalid", f"not a readable zip archive ({exc})") from None
    if len(infos) > MAX_MEMBERS:
        raise PackageError("qti_too_large", f"more than {MAX_MEMBERS} files in the archive")
    found: dict[str, bytes] = {}
    total = 0
    for info in infos:
        if not safe_name(info.filename):
            raise PackageError("qti_unsafe", f"{info.filename!r}: a path outside the archive")
        if info.is_dir() or not info.filename.lower().endswith(".xml"):
            continue
        if info.compress_type not in (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED, zipfile.ZIP_BZIP2, zipfile.ZIP_LZMA):
            raise PackageError("qti_invalid", f"{info.filename}: compressed with an unknown method")
        try:
            with archive.open(info) as member:
                content = member.read(MAX_MEMBER_BYTES + 1)
        except (zipfile.BadZipFile, RuntimeError, ValueError, OSError) as exc:  # corrupt, encrypted
            raise PackageError("qti_invalid", f"{info.filename}: cannot be read ({exc})") from None
        if len(content) > MAX_MEMBER_BYTES:
            raise PackageError("qti_too_large", f"{info.filename}: inflates past {MAX_MEMBER_BYTES >> 20} MiB")
        total += len(content)
        if total > MAX_TOTAL_BYTES:
            raise PackageError("qti_too_large", f"the archive inflates past {MAX_TOTAL_BYTES >> 20} MiB")
        found[info.filename.replace("\\", "/")] = content
    return found


def ordered_items(docs: dict[str, ET.Element]) -> list[str]:
    """QTI 2.x item documents in the test's order (assessmentItemRef), else the manifest's, else by name."""
    order: list[str] = []
    for name, root in docs.items():
        if root.tag == "assessmentTest":
            base = name.rsplit("/", 1)[0] + "/" if "/" in name else ""
            order += [normal(base + ref.get("href", "")) for ref in root.iter("assessmentItemRef")]
    manifest = docs.get("imsmanifest.xml")
    if manifest is not None:
        order += [normal(f.get("href", "")) for r in manifest.iter("resource") for f in r.iter("file")]
    items = [name for name, root in docs.items() if root.tag == "assessmentItem"]
    rank = {name: i for i, name in reversed(list(enumerate(order)))}
    return sorted(items, key=lambda name: (rank.get(name, len(rank)), name))


def normal(path: str) -> str:
    parts: list[str] = []
    for part in path.replace("\\", "/").split("/"):
        if part == "..":
            parts = parts[:-1]
        elif part not in ("", "."):
            parts.append(part)
    return "/".join(parts)


def read_package(data: bytes) -> Package:
    package = Package()
    docs = {name: parse_xml(content, name) for name, content in members(data).items()}
    kinds = {root.tag for root in docs.values()}
    if "questestinterop" in kinds:
        for name in sorted(docs):
            if docs[name].tag == "questestinterop":
                read_12(docs[name], package)
        meta = next((root for root in docs.values() if root.tag == "quiz"), None)  # Canvas assessment_meta.xml
        if meta is not None:
            package.title = tidy(meta.findtext("title") or "") or package.title
            package.description = html_text(meta.findtext("description") or "") or None
    elif "assessmentItem" in kinds:
        for root in docs.values():
            if root.tag == "assessmentTest" and package.title is None:
                package.title = root.get("title")
        for name in ordered_items(docs):
            root = docs[name]
            collect(package, root.get("title"), root.get("identifier"),
                    lambda root=root: item_2x(root, package.warnings))
    else:
        raise PackageError("qti_invalid", "no QTI 1.2 questestinterop nor QTI 2.1/3.0 assessmentItem found")
    package.title = tidy(package.title or "")[:200] or None
    return package


# ------------------------------------------------------------------------------------------ writing
def sub(parent: ET.Element, tag: str, text: str | None = None, **attrs) -> ET.Element:
    element = ET.SubElement(parent, tag, {k.rstrip("_"): str(v) for k, v in attrs.items() if v is not None})
    if text is not None:
        element.text = text
    return element


def xml_bytes(root: ET.Element) -> bytes:
    ET.indent(root)
    return ET.tostring(root, encoding="utf-8", xml_declaration=True)


def lines_into(parent: ET.Element, text: str) -> None:
    """Text as XHTML: the lines of `text` separated by <br/>."""
    lines = text.split("\n")
    parent.text = lines[0]
    for line in lines[1:]:
        sub(parent, "br").tail = line


def html_of(text: str) -> str:
    from html import escape
    return "<div>" + "<br/>".join(escape(line) for line in text.split("\n")) + "</div>"


def key_of(question: dict):
    return question.get("correct_answer")


def item_12_xml(section: ET.Element, question: dict, number_: int) -> None:
    ident = f"q{number_}"
    kind = question["question_type"]
    item = sub(section, "item", ident=ident, title=f"Question {number_}")
    meta = sub(sub(item, "itemmetadata"), "qtimetadata")
    fields = [("question_type", TO_CANVAS[kind]), ("points_possible", str(question["points"]))]
    if kind == "essay" and key_of(question):
        fields.append(("grading_guidance", key_of(question)))
    for label, entry in fields:
        f = sub(meta, "qtimetadatafield")
        sub(f, "fieldlabel", label)
        sub(f, "fieldentry", entry)
    presentation = sub(item, "presentation")
    sub(sub(presentation, "material"), "mattext", html_of(question["question_text"]), texttype="text/html")
    process = sub(item, "resprocessing")
    sub(sub(process, "outcomes"), "decvar", maxvalue="100", minvalue="0", varname="SCORE", vartype="Decimal")
    condition = sub(process, "respcondition", continue_="No")
    var = sub(condition, "conditionvar")
    if kind in ("multiple_choice", "true_false", "multiple_answer"):
        options = question["options"] if kind != "true_false" else ["True", "False"]
        lid = sub(presentation, "response_lid", ident="response1",
                  rcardinality="Multiple" if kind == "multiple_answer" else "Single")
        render = sub(lid, "render_choice")
        idents = {}
        for i, option in enumerate(options, 1):
            idents[option] = f"{ident}_c{i}"
            label = sub(render, "response_label", ident=idents[option])
            sub(sub(label, "material"), "mattext", option, texttype="text/plain")
        if kind == "multiple_answer":
            both = sub(var, "and")
            right = key_of(question)
            for option in options:
                holder = both if option in right else sub(both, "not")
                sub(holder, "varequal", idents[option], respident="response1")
        else:
            right = key_of(question).capitalize() if kind == "true_false" else key_of(question)
            sub(var, "varequal", idents[right], respident="response1")
    else:
        response = sub(presentation, "response_str", ident="response1", rcardinality="Single")
        sub(sub(response, "render_fib", fibtype="Decimal" if kind == "numeric" else None), "response_label",
            ident="answer1")
        if kind == "essay":  # graded by a person: no score set
            sub(var, "other")
            return
        if kind == "short_answer":
            sub(var, "varequal", key_of(question), respident="response1")
        else:
            answer, tolerance = number(str(key_of(question))), number(str(question.get("tolerance") or 0))
            either = sub(var, "or")
            sub(either, "varequal", plain(answer), respident="response1")
            both = sub(either, "and")
            sub(both, "vargte", plain(answer - tolerance), respident="response1")
            sub(both, "varlte", plain(answer + tolerance), respident="response1")
    sub(condition, "setvar", "100", action="Set", varname="SCORE")


def package_12(quiz: dict) -> dict[str, bytes]:
    ident = "quiz_" + str(quiz.get("id", "export")).replace("-", "")
    root = ET.Element("questestinterop", {"xmlns": NS_12})
    assessment = sub(root, "assessment", ident=ident, title=quiz["title"])
    section = sub(assessment, "section", ident="root_section")
    for i, question in enumerate(quiz["questions"], 1):
        item_12_xml(section, question, i)
    meta = ET.Element("quiz", {"identifier": ident, "xmlns": "http://canvas.instructure.com/xsd/cccv1p0"})
    sub(meta, "title", quiz["title"])
    sub(meta, "description", html_of(quiz["description"]) if quiz.get("description") else "")
    manifest = manifest_xml(ident, [(f"{ident}/{ident}.xml", "imsqti_xmlv1p2", [f"{ident}/assessment_meta.xml"])])
    return {"imsmanifest.xml": manifest, f"{ident}/{ident}.xml": xml_bytes(root),
            f"{ident}/assessment_meta.xml": xml_bytes(meta)}


def manifest_xml(ident: str, resources: list[tuple[str, str, list[str]]]) -> bytes:
    root = ET.Element("manifest", {"identifier": ident + "_manifest", "xmlns": NS_CP})
    sub(root, "organizations")
    holder = sub(root, "resources")
    for i, (href, kind, extra) in enumerate(resources, 1):
        resource = sub(holder, "resource", identifier=f"res{i}", type=kind, href=href)
        for name in [href, *extra]:
            sub(resource, "file", href=name)
    return xml_bytes(root)


def item_2x_xml(question: dict, ident: str, title: str) -> ET.Element:
    kind = question["question_type"]
    root = ET.Element("assessmentItem", {"identifier": ident, "title": title, "label": kind, "adaptive": "false",
                                         "timeDependent": "false"})
    choice = kind in ("multiple_choice", "true_false", "multiple_answer")
    base = "identifier" if choice else ("float" if kind == "numeric" else "string")
    declaration = sub(root, "responseDeclaration", identifier="RESPONSE", baseType=base,
                      cardinality="multiple" if kind == "multiple_answer" else "single")
    options = question.get("options") or (["True", "False"] if kind == "true_false" else [])
    idents = {option: f"c{i}" for i, option in enumerate(options, 1)}
    key = key_of(question)
    if kind != "essay":
        right = key if kind == "multiple_answer" else [key.capitalize() if kind == "true_false" else key]
        correct = sub(declaration, "correctResponse")
        for value in right:
            sub(correct, "value", idents[value] if choice else str(value))
    sub(sub(sub(root, "outcomeDeclaration", identifier="SCORE", cardinality="single", baseType="float"),
            "defaultValue"), "value", "0")
    sub(sub(sub(root, "outcomeDeclaration", identifier="MAXSCORE", cardinality="single", baseType="float"),
            "defaultValue"), "value", str(question["points"]))
    body = sub(root, "itemBody")
    lines_into(sub(body, "div"), question["question_text"])
    if choice:
        interaction = sub(body, "choiceInteraction", responseIdentifier="RESPONSE", shuffle="false",
                          maxChoices="0" if kind == "multiple_answer" else "1")
        for option in options:
            sub(interaction, "simpleChoice", option, identifier=idents[option])
    elif kind == "essay":
        sub(body, "extendedTextInteraction", responseIdentifier="RESPONSE")
        if key:
            lines_into(sub(sub(body, "rubricBlock", view="scorer"), "div"), key)
    else:
        sub(sub(body, "div"), "textEntryInteraction", responseIdentifier="RESPONSE")
    if kind == "essay":
        return root
    test = sub(sub(sub(root, "responseProcessing"), "responseCondition"), "responseIf")
    if kind == "numeric":
        tolerance = plain(number(str(question.get("tolerance") or 0)))
        match = sub(test, "equal", toleranceMode="absolute", tolerance=f"{tolerance} {tolerance}")
    elif kind == "short_answer":
        match = sub(test, "stringMatch", caseSensitive="false")
    else:
        match = sub(test, "match")
    sub(match, "variable", identifier="RESPONSE")
    sub(match, "correct", identifier="RESPONSE")
    sub(sub(test, "setOutcomeValue", identifier="SCORE"), "variable", identifier="MAXSCORE")
    return root


def kebab(name: str) -> str:
    return re.sub(r"(?<!^)([A-Z])", lambda m: "-" + m.group(1).lower(), name)


def as_30(root: ET.Element) -> ET.Element:
    """A QTI 2.1 tree we wrote as QTI 3.0: qti- prefixed kebab-case names, attributes kebab-case."""
    xhtml = {"div", "p", "br", "span"}
    for element in root.iter():
        if element.tag not in xhtml:
            element.tag = "qti-" + kebab(element.tag)
        element.attrib = {kebab(k): v for k, v in element.attrib.items()}
    return root


def package_2x(quiz: dict, version: str) -> dict[str, bytes]:
    namespace, item_type, test_type = ((NS_21, "imsqti_item_xmlv2p1", "imsqti_test_xmlv2p1") if version == "2.1"
                                       else (NS_30, "imsqti_item_xmlv3p0", "imsqti_test_xmlv3p0"))
    files: dict[str, bytes] = {}
    test = ET.Element("assessmentTest", {"identifier": "test", "title": quiz["title"]})
    part = sub(test, "testPart", identifier="part1", navigationMode="nonlinear", submissionMode="simultaneous")
    section = sub(part, "assessmentSection", identifier="section1", title=quiz["title"], visible="true")
    resources = []
    for i, question in enumerate(quiz["questions"], 1):
        root = item_2x_xml(question, f"q{i}", f"Question {i}")
        href = f"items/q{i}.xml"
        sub(section, "assessmentItemRef", identifier=f"q{i}", href=f"../{href}")
        files[href] = root
        resources.append((href, item_type, []))
    files["tests/test.xml"] = test
    resources.insert(0, ("tests/test.xml", test_type, []))
    out = {"imsmanifest.xml": manifest_xml("quiz", resources)}
    for name, root in files.items():
        if version == "3.0":
            as_30(root)
        root.set("xmlns", namespace)
        out[name] = xml_bytes(root)
    return out


def write_package(quiz: dict, version: str = "2.1") -> bytes:
    """A quiz ({title, description, questions: [{question_text, question_type, options, correct_answer,
    points, tolerance}]}) as a QTI package (zip bytes)."""
    if version not in VERSIONS:
        raise ValueError(f"QTI version {version!r}: one of {', '.join(VERSIONS)}")
    files = package_12(quiz) if version == "1.2" else package_2x(quiz, version)
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, content in files.items():
            archive.writestr(name, content)
    return buffer.getvalue()


__all__ = ["read_package", "write_package", "Package", "PackageError", "VERSIONS", "OUR_TYPES"]
