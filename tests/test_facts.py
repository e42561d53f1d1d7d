"""Facts are merged, never overwritten whole: the laws of the issue, by hypothesis."""

from __future__ import annotations

import copy
import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from approval_bot.facts import MAX_DEPTH, MAX_PATCH_BYTES, check_patch, merge_facts, parse_patch

keys = st.sampled_from(["name", "topics", "preferred", "day", "time", "pets", "notes"])
plain = st.booleans() | st.integers(-5, 5) | st.text(max_size=4)  # no None: None deletes
values = st.recursive(
    plain | st.lists(plain, max_size=3),
    lambda children: st.dictionaries(keys, children | st.none(), max_size=3),
    max_leaves=6,
)
facts = st.dictionaries(keys, values, max_size=4)
patches = st.dictionaries(keys, values | st.none(), max_size=4)


@given(facts, patches)
def test_the_merge_never_changes_its_inputs_and_shares_nothing_with_them(current, patch):
    before_current, before_patch = copy.deepcopy(current), copy.deepcopy(patch)
    merged = merge_facts(current, patch)
    assert (current, patch) == (before_current, before_patch)
    for value in merged.values():
        if isinstance(value, list):
            value.append("changed")
        if isinstance(value, dict):
            value["changed"] = True
    assert (current, patch) == (before_current, before_patch)


@given(facts)
def test_an_empty_patch_changes_nothing(current):
    assert merge_facts(current, {}) == current


@given(facts, patches)
def test_keys_the_patch_does_not_name_stay_as_they_were(current, patch):
    merged = merge_facts(current, patch)
    for key in current.keys() - patch.keys():
        assert merged[key] == current[key]


@given(facts, patches)
def test_null_deletes_a_key(current, patch):
    merged = merge_facts(current, patch)
    for key, value in patch.items():
        if value is None:
            assert key not in merged


@given(facts, patches)
def test_a_scalar_replaces_whatever_was_there(current, patch):
    merged = merge_facts(current, patch)
    for key, value in patch.items():
        if value is not None and not isinstance(value, list | dict):
            assert merged[key] == value


@given(facts, patches)
def test_lists_gain_the_new_items_once_in_order(current, patch):
    merged = merge_facts(current, patch)
    for key, value in patch.items():
        if isinstance(value, list) and isinstance(current.get(key), list):
            old = current[key]
            new = []
            for item in value:
                if item not in old and item not in new:
                    new.append(item)
            assert merged[key] == old + new


@given(facts, patches)
def test_objects_merge_by_the_same_law(current, patch):
    merged = merge_facts(current, patch)
    for key, value in patch.items():
        if isinstance(value, dict) and isinstance(current.get(key), dict):
            assert merged[key] == merge_facts(current[key], value)
        elif isinstance(value, dict):  # a new object: its nulls delete nothing, so are left out
            made = merged[key]
            assert made == merge_facts({}, value)
            assert isinstance(made, dict) and None not in made.values()


@given(facts, patches)
def test_merging_the_same_patch_twice_is_merging_it_once(current, patch):
    once = merge_facts(current, patch)
    assert merge_facts(once, patch) == once


def test_the_issue_example_merges_as_a_reviewer_expects():
    current: dict[str, object] = {
        "name": "Sam",
        "topics": ["price"],
        "preferred": {"day": "Saturday"},
        "pets": 1,
    }
    patch: dict[str, object] = {
        "name": "Sam Byrne",
        "topics": ["price", "parking"],
        "preferred": {"time": "morning"},
        "pets": None,
    }
    assert merge_facts(current, patch) == {
        "name": "Sam Byrne",
        "topics": ["price", "parking"],
        "preferred": {"day": "Saturday", "time": "morning"},
    }


# -- a patch from the API


def test_a_json_object_patch_is_accepted_as_it_is():
    assert parse_patch('{"name": "Sam", "topics": ["price"], "old": null}') == {
        "name": "Sam",
        "topics": ["price"],
        "old": None,
    }


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ("[1, 2]", "must be a JSON object"),
        ("not json", "must be a JSON object"),
        ('"Sam"', "must be a JSON object"),
        ('{"name": NaN}', "finite number"),
        ('{"": 1}', "1 to 64 characters"),
        ('{"topics": [{"a": 1}]}', "plain values"),
        (json.dumps({"a": {"b": {"c": {"d": {"e": 1}}}}}), f"at most {MAX_DEPTH} objects deep"),
        (json.dumps({"notes": "x" * MAX_PATCH_BYTES}), f"at most {MAX_PATCH_BYTES} bytes"),
    ],
)
def test_a_patch_that_is_not_a_small_json_object_is_refused_with_a_message(body, message):
    with pytest.raises(ValueError, match=message):
        parse_patch(body)


def test_check_patch_takes_an_already_parsed_body():
    assert check_patch({"a": {"b": {"c": {"d": 1}}}}) == {"a": {"b": {"c": {"d": 1}}}}
    with pytest.raises(ValueError, match="JSON object"):
        check_patch(["a"])
