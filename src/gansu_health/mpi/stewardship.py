"""Data-steward actions on links and golden records: set links, merge, unmerge, not-duplicate."""

from __future__ import annotations

from typing import Any

import orjson
from sqlalchemy import Connection

from gansu_health.core.errors import BadRequest, Conflict, NotFound, UnprocessableEntity
from gansu_health.mpi import repository as repo
from gansu_health.mpi.batch import link_payload
from gansu_health.mpi.golden import DEMOGRAPHICS, GOLDEN_TYPE, golden_ref, redirected, same_content
from gansu_health.mpi.repository import AUTO, MANUAL, MATCH, NO_MATCH, POSSIBLE_MATCH, Link
from gansu_health.mpi.service import MpiService

RESULTS = (MATCH, POSSIBLE_MATCH, NO_MATCH)


class Stewardship:
    """Manual decisions; a MANUAL link is never overridden by automatic re-matching."""

    def __init__(self, mpi: MpiService) -> None:
        self.mpi = mpi

    def active_golden(self, conn: Connection, golden_id: str, param: str) -> Any:
        """Lock an active golden record and return its row, or raise naming ``param``."""
        self.mpi.lock_golden(conn, golden_id)
        row = repo.golden(conn, golden_id)
        if row is None:
            raise NotFound(f"{golden_ref(golden_id)} is not a golden record", expression=param)
        if row.status != "active":
            raise UnprocessableEntity(f"{golden_ref(golden_id)} was merged into "
                                      f"{golden_ref(row.redirect_to)}", expression=param)
        return row

    def source(self, conn: Connection, source_id: str, param: str) -> str:
        """Lock an indexed source record (against a concurrent re-match) and return its id."""
        self.mpi.store.current(conn, "Patient", source_id, lock=True)
        if not repo.has_record(conn, source_id):
            raise NotFound(f"Patient/{source_id} is not a source record of the MPI",
                           expression=param)
        return source_id

    def set_link(self, conn: Connection, golden_id: str, source_id: str, result: str, *,
                 must_exist: bool) -> Link:
        """Set a link by hand (MANUAL); NO_MATCH on the current match gives a new golden record."""
        if result not in RESULTS:
            raise BadRequest(f"matchResult must be one of {', '.join(RESULTS)}",
                             expression="matchResult")
        self.source(conn, source_id, "resourceId")  # the order registration locks them in
        self.active_golden(conn, golden_id, "goldenResourceId")
        existing = next(iter(repo.links_of(conn, source_id=source_id, golden_id=golden_id)),
                        None)
        if must_exist and existing is None:
            raise NotFound(f"No link between Patient/{source_id} and {golden_ref(golden_id)}",
                           expression="resourceId")
        score = existing.score if existing else None
        grade = existing.grade if existing else None
        refresh: list[str] = []
        if result == MATCH and golden_id in self._distinct(conn, source_id):
            raise Conflict(f"{golden_ref(golden_id)} was declared not a duplicate of this source's "
                           f"golden record", expression="goldenResourceId")
        was_match = existing is not None and existing.match_result == MATCH
        if result != MATCH and was_match and len(
                repo.links_of(conn, source_id=source_id, result=MATCH)) == 1:
            link = self.mpi.link(conn, source_id, golden_id, result, MANUAL, score, grade,
                                 "manual", refresh)
            fresh = self.mpi.create_golden(conn)
            self.mpi.link(conn, source_id, fresh, MATCH, AUTO, None, None, "manual-split",
                          refresh)
        else:
            link = self.mpi.link(conn, source_id, golden_id, result, MANUAL, score, grade,
                                 "manual", refresh)
        for gid in dict.fromkeys(refresh):
            self.mpi.refresh_golden(conn, gid)
        return link

    def _distinct(self, conn: Connection, source_id: str) -> set[str]:
        current = repo.match_link(conn, source_id)
        if current is None:
            return set()
        return {b if a == current.golden_id else a
                for a, b in repo.not_duplicates_of(conn, [current.golden_id])}

    def not_duplicate(self, conn: Connection, golden_id: str, other_id: str) -> int:
        """Declare two golden records distinct; resolve their pending reviews as NO_MATCH."""
        if golden_id == other_id:
            raise BadRequest("A golden record is always its own duplicate", expression="resourceId")
        self.active_golden(conn, golden_id, "goldenResourceId")
        self.active_golden(conn, other_id, "resourceId")
        repo.add_not_duplicate(conn, self.mpi.node, golden_id, other_id)
        resolved = 0
        refresh: list[str] = []
        for mine, theirs in ((golden_id, other_id), (other_id, golden_id)):
            sources = {link.source_id for link in repo.links_of(conn, golden_id=mine,
                                                                result=MATCH)}
            for link in repo.links_of(conn, golden_id=theirs, result=POSSIBLE_MATCH):
                if link.source_id in sources:
                    self.mpi.link(conn, link.source_id, theirs, NO_MATCH, MANUAL, link.score,
                                  link.grade, "not-duplicate", refresh)
                    resolved += 1
        self.mpi.emit(conn, "mpi.golden.not-duplicate",
                      {"goldenId": golden_id, "otherGoldenId": other_id, "resolved": resolved})
        return resolved

    def merge(self, conn: Connection, from_id: str, to_id: str,
              resource: dict[str, Any] | None) -> tuple[int, dict[str, Any]]:
        """Merge golden record ``from_id`` into ``to_id``; return the merge id and the result."""
        if from_id == to_id:
            raise BadRequest("Cannot merge a golden record into itself",
                             expression="toGoldenResourceId")
        for fid in sorted((from_id, to_id)):  # one lock order for concurrent merges
            self.mpi.lock_golden(conn, fid)
        from_row = self.active_golden(conn, from_id, "fromGoldenResourceId")
        self.active_golden(conn, to_id, "toGoldenResourceId")
        if repo.is_not_duplicate(conn, from_id, to_id):
            raise Conflict("These golden records were declared not duplicates",
                           expression="fromGoldenResourceId")
        versions = [self.mpi.store.read(conn, GOLDEN_TYPE, g).version for g in (from_id, to_id)]
        to_sources = {link.source_id for link in repo.links_of(conn, golden_id=to_id,
                                                               result=MATCH)}
        moved: list[int] = []
        removed: list[dict[str, Any]] = []
        for link in repo.links_of(conn, golden_id=from_id):
            clash = next(iter(repo.links_of(conn, source_id=link.source_id, golden_id=to_id)),
                         None)
            if link.match_result != MATCH and (clash or link.source_id in to_sources):
                repo.delete_link(conn, self.mpi.node, link, "merge")
                removed.append(link_payload(link))
                continue
            if clash is not None:
                repo.delete_link(conn, self.mpi.node, clash, "merge")
                removed.append(link_payload(clash))
            repo.move_link(conn, self.mpi.node, link, to_id, "merge")
            moved.append(link.id)
        repo.set_golden_status(conn, from_id, "redirected", to_id)
        merge_id = repo.insert_merge(conn, self.mpi.node, from_id, to_id, versions[0],
                                     versions[1], {"moved": moved, "removed": removed})
        old = self.mpi.read_golden(conn, from_id)
        self.mpi.write_golden(conn, redirected(old, to_id))
        body = self.mpi.golden_body(conn, to_id)
        assert body is not None
        if resource:
            body.update({k: resource[k] for k in (*DEMOGRAPHICS, "telecom") if k in resource})
        self.mpi.write_golden(conn, body)
        self.mpi.emit(conn, "mpi.golden.merged", {
            "mergeId": merge_id, "fromGoldenId": from_id, "toGoldenId": to_id,
            "fromEmpiId": from_row.empi_id, "movedLinks": moved})
        return merge_id, self.mpi.read_golden(conn, to_id)

    def unmerge(self, conn: Connection, merge_id: int | None, golden_id: str | None
                ) -> tuple[int, dict[str, Any], dict[str, Any]]:
        """Undo a merge: links go back and both golden records are restored as they were."""
        row = repo.merge_row(conn, merge_id, golden_id)
        if row is None:
            raise NotFound("No merge to undo", expression="mergeId" if merge_id else
                           "goldenResourceId")
        for fid in sorted((row.from_id, row.to_id)):
            self.mpi.lock_golden(conn, fid)
        if repo.golden(conn, row.to_id).status != "active":
            raise Conflict(f"{golden_ref(row.to_id)} was merged again later; undo that merge first",
                           expression="mergeId")
        data = orjson.loads(row.moved)
        repo.set_golden_status(conn, row.from_id, "active", None)
        for link_id in data["moved"]:
            link = repo.link_by_id(conn, link_id)
            if link is not None and link.golden_id == row.to_id:
                repo.move_link(conn, self.mpi.node, link, row.from_id, "unmerge")
        for old in data["removed"]:
            if not repo.links_of(conn, source_id=old["sourceId"], golden_id=old["goldenId"]):
                repo.save_link(conn, self.mpi.node, old["sourceId"], old["goldenId"],
                               old["matchResult"], old["linkSource"], old["score"],
                               old["grade"], old["modelVersion"], "unmerge")
        repo.mark_undone(conn, row.id)
        restored = []
        for fid, version in ((row.from_id, row.from_version), (row.to_id, row.to_version)):
            before = self.mpi.store.vread(conn, GOLDEN_TYPE, fid, version).json()
            if not same_content(self.mpi.read_golden(conn, fid), before):
                self.mpi.write_golden(conn, before)
            self.mpi.refresh_golden(conn, fid)
            restored.append(self.mpi.read_golden(conn, fid))
        self.mpi.emit(conn, "mpi.golden.unmerged", {
            "mergeId": row.id, "fromGoldenId": row.from_id, "toGoldenId": row.to_id})
        return int(row.id), restored[0], restored[1]
