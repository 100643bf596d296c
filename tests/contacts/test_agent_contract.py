"""A contact list against the agent's declared variables: asked once, kept, and enforced."""

from __future__ import annotations

from collections.abc import Sequence

import pytest

from campaign_engine.contacts.agent_contract import declared_variables, fit_to_agent
from campaign_engine.contacts.columns import ColumnMapping
from campaign_engine.contacts.summary import ImportRefused
from campaign_engine.db.models import Campaign
from tests.contacts.conftest import NewCampaign, Sessions

HEADERS = ("Phone", "Name", "City")


def mapping(headers: Sequence[str] = HEADERS) -> ColumnMapping:
    return ColumnMapping.build(headers)


class Lookup:
    """An agent lookup that records what it was asked."""

    def __init__(self, answer: Sequence[str]) -> None:
        self.answer = answer
        self.asked: list[str] = []

    async def __call__(self, agent_id: str) -> Sequence[str]:
        self.asked.append(agent_id)
        return self.answer


async def _campaign(sessions: Sessions, campaign_id: str) -> Campaign:
    async with sessions() as session:
        campaign = await session.get(Campaign, campaign_id)
        assert campaign is not None
        return campaign


# --- fit_to_agent (pure) ----------------------------------------------------------------


def test_a_file_that_matches_the_agent_is_imported_as_mapped() -> None:
    plan = mapping()
    fitted, dropped = fit_to_agent(plan, ["name", "city"])
    assert fitted == plan
    assert dropped == ()


def test_an_agent_of_unknown_variables_accepts_any_columns() -> None:
    plan = mapping()
    assert fit_to_agent(plan, None) == (plan, ())


def test_undeclared_columns_refuse_the_import_naming_them_and_the_fixes() -> None:
    with pytest.raises(ImportRefused) as caught:
        fit_to_agent(mapping(), ["name"])
    message = str(caught.value)
    assert message.startswith("nothing imported; columns the agent does not declare: city")
    assert "--exclude COLUMN" in message and "--drop-undeclared" in message


def test_drop_undeclared_leaves_those_columns_out_and_names_their_headers() -> None:
    fitted, dropped = fit_to_agent(
        mapping(("Phone", "Name", "Home City", "Notes")), ["name"], drop_undeclared=True
    )
    assert dropped == ("Home City", "Notes")
    assert fitted.variable_names == ("name",)
    assert fitted.ignored == ("Home City", "Notes")


def test_missing_declared_variables_refuse_the_import_with_the_map_fix() -> None:
    with pytest.raises(ImportRefused) as caught:
        fit_to_agent(mapping(), ["name", "city", "amount_due", "due_date"])
    assert str(caught.value) == (
        "nothing imported; variables the agent declares that no column supplies: "
        "amount_due, due_date (rename a column with --map COLUMN=VARIABLE)"
    )


def test_variables_the_engine_fills_in_never_count_as_missing() -> None:
    plan = mapping()
    fitted, dropped = fit_to_agent(
        plan, ["name", "city", "ce_attempt_id"], engine_variables=["ce_attempt_id"]
    )
    assert (fitted, dropped) == (plan, ())


def test_both_problems_are_reported_together() -> None:
    with pytest.raises(ImportRefused) as caught:
        fit_to_agent(mapping(), ["name", "amount"])
    message = str(caught.value)
    assert "columns the agent does not declare: city" in message
    assert "no column supplies: amount" in message
    assert message.count("nothing imported") == 1


def test_dropping_undeclared_columns_does_not_excuse_missing_ones() -> None:
    with pytest.raises(ImportRefused, match="no column supplies: amount"):
        fit_to_agent(mapping(), ["name", "amount"], drop_undeclared=True)


# --- declared_variables (database) ------------------------------------------------------


async def test_stored_agent_variables_are_used_without_asking_vocobase(
    sessions: Sessions, new_campaign: NewCampaign
) -> None:
    campaign_id = await new_campaign(sessions, agent_variables=["name"])
    lookup = Lookup(["other"])
    found = await declared_variables(
        sessions, await _campaign(sessions, campaign_id), lookup, remember=True
    )
    assert found == ["name"]
    assert lookup.asked == []


async def test_an_empty_stored_declaration_is_an_answer_not_unknown(
    sessions: Sessions, new_campaign: NewCampaign
) -> None:
    campaign_id = await new_campaign(sessions, agent_variables=[])
    lookup = Lookup(["name"])
    found = await declared_variables(
        sessions, await _campaign(sessions, campaign_id), lookup, remember=True
    )
    assert found == []
    assert lookup.asked == []


async def test_with_nothing_stored_and_no_lookup_any_variables_are_accepted(
    sessions: Sessions, new_campaign: NewCampaign
) -> None:
    campaign_id = await new_campaign(sessions)
    found = await declared_variables(
        sessions, await _campaign(sessions, campaign_id), None, remember=True
    )
    assert found is None


async def test_vocobase_is_asked_for_the_campaigns_agent_and_the_answer_remembered(
    sessions: Sessions, new_campaign: NewCampaign
) -> None:
    campaign_id = await new_campaign(sessions)
    campaign = await _campaign(sessions, campaign_id)
    lookup = Lookup(("name", "city"))
    found = await declared_variables(sessions, campaign, lookup, remember=True)
    assert found == ["name", "city"]
    assert lookup.asked == [campaign.agent_id]
    assert (await _campaign(sessions, campaign_id)).agent_variables == ["name", "city"]


async def test_without_remember_the_answer_is_not_stored(
    sessions: Sessions, new_campaign: NewCampaign
) -> None:
    campaign_id = await new_campaign(sessions)
    found = await declared_variables(
        sessions, await _campaign(sessions, campaign_id), Lookup(["name"]), remember=False
    )
    assert found == ["name"]
    assert (await _campaign(sessions, campaign_id)).agent_variables is None


async def test_remember_does_not_overwrite_a_declaration_stored_meanwhile(
    sessions: Sessions, new_campaign: NewCampaign
) -> None:
    campaign_id = await new_campaign(sessions)
    stale = await _campaign(sessions, campaign_id)  # read before `campaign start` stored one
    async with sessions() as session, session.begin():
        stored = await session.get(Campaign, campaign_id)
        assert stored is not None
        stored.agent_variables = ["from_start"]
    found = await declared_variables(sessions, stale, Lookup(["from_lookup"]), remember=True)
    assert found == ["from_lookup"]
    assert (await _campaign(sessions, campaign_id)).agent_variables == ["from_start"]


async def test_names_vocobase_gives_that_are_not_strings_are_stored_as_strings(
    sessions: Sessions, new_campaign: NewCampaign
) -> None:
    campaign_id = await new_campaign(sessions)
    lookup = Lookup([1, "name"])  # type: ignore[list-item]
    found = await declared_variables(
        sessions, await _campaign(sessions, campaign_id), lookup, remember=True
    )
    assert found == ["1", "name"]


async def test_a_failing_lookup_propagates_and_stores_nothing(
    sessions: Sessions, new_campaign: NewCampaign
) -> None:
    campaign_id = await new_campaign(sessions)

    async def unreachable(agent_id: str) -> Sequence[str]:
        raise ConnectionError("vocobase down")

    with pytest.raises(ConnectionError, match="vocobase down"):
        await declared_variables(
            sessions, await _campaign(sessions, campaign_id), unreachable, remember=True
        )
    assert (await _campaign(sessions, campaign_id)).agent_variables is None


def test_a_kept_column_never_counts_against_the_agent() -> None:
    mapping = ColumnMapping.build(["Phone", "Name", "CRM Id"]).keeping(["CRM Id"])
    fitted, dropped = fit_to_agent(mapping, ["name"])
    assert fitted.variable_names == ("name", "kept:crm_id") and dropped == ()


def test_an_edit_is_refused_for_a_variable_the_agent_does_not_declare_or_one_it_removes() -> None:
    from campaign_engine.contacts.agent_contract import edit_refusal

    declared = ["name", "due"]
    assert edit_refusal(["name", "due"], ["name", "due", "kept:crm"], declared) is None
    assert edit_refusal(["name"], ["name", "city"], None) is None
    assert edit_refusal(["name", "due"], ["name", "due", "city"], declared) == (
        "nothing changed; variables the agent does not declare: city "
        "(the agent declares: name, due)"
    )
    assert edit_refusal(["name", "due"], ["name"], declared) == (
        "nothing changed; variables the agent declares that nothing would supply: due"
    )
