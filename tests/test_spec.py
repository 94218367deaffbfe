"""The spec format: defaults, round trips, strictness, and field-path errors."""

import json

import pytest
import yaml

from engine.arch import get_preset, load, loads, parse
from engine.arch.presets import preset_names
from engine.core.errors import SpecError
from engine.spec import canonical_json, dumps, save


@pytest.mark.parametrize("name", preset_names())
@pytest.mark.parametrize("fmt", ["yaml", "json"])
def test_round_trip(name, fmt):
    spec = get_preset(name)
    assert loads(dumps(spec, fmt), fmt) == spec
    assert canonical_json(loads(dumps(spec, fmt), fmt)) == canonical_json(spec)


def test_defaults_are_a_cifar_resnet20():
    spec = parse({"family": "resnet"})
    assert spec.input == [3, 32, 32] and spec.shortcut == "A" and spec.block == "basic"
    assert [s.width for s in spec.stages] == [16, 32, 64]


def test_file_round_trip(tmp_path):
    spec = get_preset("resnet56")
    for suffix in (".yaml", ".json"):
        path = tmp_path / f"s{suffix}"
        save(spec, path)
        assert load(path) == spec


@pytest.mark.parametrize(("data", "path", "words"), [
    ({"family": "resnet", "stages": [{"blocks": 1, "width": 8}, {"blocks": 1, "width": -4}]},
     "stages[1].width", "must be a positive integer, got -4"),
    ({"family": "resnet", "stages": [{"blocks": 0, "width": 8}]}, "stages[0].blocks", "positive"),
    ({"family": "resnet", "shortcut": "D"}, "shortcut", "'A', 'B', 'C' or 'none'"),
    ({"family": "resnet", "depth": 3}, "depth", "unknown key 'depth'"),
    ({"family": "resnet", "stages": [{"blocks": 1, "width": 8, "kernel": 5}]}, "stages[0].kernel", "unknown key"),
    ({"family": "resnet", "input": [3, 32]}, "input", "[C, H, W]"),
    ({"family": "resnet", "input": [3, 0, 32]}, "input[1]", "positive"),
    ({"family": "resnet", "preact": "yes"}, "preact", "true or false"),
    ({"family": "resnet", "stages": []}, "stages", "non-empty"),
    ({"family": "resnet", "num_classes": 2.5}, "num_classes", "integer"),
    ({"family": "nope"}, "family", "unknown family 'nope'"),
    ({"input": [3, 32, 32]}, "family", "required"),
    ({"family": "resnet", "edits": [{"remove_skip": "a", "add_skip": {"from": "a", "to": "b"}}]},
     "edits[0]", "exactly one"),
])
def test_errors_name_the_field(data, path, words):
    with pytest.raises(SpecError) as info:
        parse(data)
    assert info.value.path == path
    assert words in str(info.value)
    assert "\n" not in str(info.value)


def test_malformed_text():
    with pytest.raises(SpecError, match="malformed YAML at line 3"):
        loads("family: resnet\nstages: [1, 2\n")
    with pytest.raises(SpecError, match="malformed JSON at line 1"):
        loads("{family: resnet}", "json")
    with pytest.raises(SpecError, match="empty"):
        loads("")
    with pytest.raises(SpecError, match="mapping"):
        loads("- 1\n- 2\n")


def test_yaml_tags_that_construct_objects_are_refused():
    with pytest.raises(SpecError, match="YAML tag .*!!python.* is not allowed"):
        loads("family: !!python/object/apply:os.system ['echo hacked']\n")


def test_missing_and_unreadable_files(tmp_path):
    with pytest.raises(SpecError, match="not found"):
        load(tmp_path / "nope.yaml")
    with pytest.raises(SpecError, match="directory"):
        load(tmp_path)
    binary = tmp_path / "weights.yaml"
    binary.write_bytes(b"\x80\x81\xff\x00" * 10)
    with pytest.raises(SpecError, match="UTF-8"):
        load(binary)


def test_dump_writes_every_default():
    data = yaml.safe_load(dumps(parse({"family": "resnet"})))
    assert {"stem", "block", "preact", "shortcut", "norm", "zero_init_residual", "stages"} <= set(data)
    assert json.loads(dumps(parse({"family": "resnet"}), "json")) == data
