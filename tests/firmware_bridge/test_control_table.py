"""Control tables of the XM430-W350 and XL430-W250 and their unit conversions."""

from __future__ import annotations

import itertools
import math

import pytest

from firmware_bridge.control_table import (
    MODELS,
    XL430_W250,
    XM430_W350,
    Access,
    Area,
    Register,
    UnknownModel,
    decode,
    encode,
    indirect_address,
    indirect_data,
    model_name,
    table_for_model,
)

# (register, address, size, area, access) from the e-Manual's XM430-W350 control table.
XM430_LAYOUT = [
    (Register.MODEL_NUMBER, 0, 2, Area.EEPROM, Access.R),
    (Register.ID, 7, 1, Area.EEPROM, Access.RW),
    (Register.BAUD_RATE, 8, 1, Area.EEPROM, Access.RW),
    (Register.RETURN_DELAY_TIME, 9, 1, Area.EEPROM, Access.RW),
    (Register.DRIVE_MODE, 10, 1, Area.EEPROM, Access.RW),
    (Register.OPERATING_MODE, 11, 1, Area.EEPROM, Access.RW),
    (Register.HOMING_OFFSET, 20, 4, Area.EEPROM, Access.RW),
    (Register.TEMPERATURE_LIMIT, 31, 1, Area.EEPROM, Access.RW),
    (Register.MAX_VOLTAGE_LIMIT, 32, 2, Area.EEPROM, Access.RW),
    (Register.CURRENT_LIMIT, 38, 2, Area.EEPROM, Access.RW),
    (Register.VELOCITY_LIMIT, 44, 4, Area.EEPROM, Access.RW),
    (Register.MAX_POSITION_LIMIT, 48, 4, Area.EEPROM, Access.RW),
    (Register.MIN_POSITION_LIMIT, 52, 4, Area.EEPROM, Access.RW),
    (Register.SHUTDOWN, 63, 1, Area.EEPROM, Access.RW),
    (Register.TORQUE_ENABLE, 64, 1, Area.RAM, Access.RW),
    (Register.HARDWARE_ERROR_STATUS, 70, 1, Area.RAM, Access.R),
    (Register.POSITION_P_GAIN, 84, 2, Area.RAM, Access.RW),
    (Register.BUS_WATCHDOG, 98, 1, Area.RAM, Access.RW),
    (Register.GOAL_CURRENT, 102, 2, Area.RAM, Access.RW),
    (Register.GOAL_VELOCITY, 104, 4, Area.RAM, Access.RW),
    (Register.PROFILE_ACCELERATION, 108, 4, Area.RAM, Access.RW),
    (Register.PROFILE_VELOCITY, 112, 4, Area.RAM, Access.RW),
    (Register.GOAL_POSITION, 116, 4, Area.RAM, Access.RW),
    (Register.MOVING, 122, 1, Area.RAM, Access.R),
    (Register.PRESENT_CURRENT, 126, 2, Area.RAM, Access.R),
    (Register.PRESENT_VELOCITY, 128, 4, Area.RAM, Access.R),
    (Register.PRESENT_POSITION, 132, 4, Area.RAM, Access.R),
    (Register.PRESENT_INPUT_VOLTAGE, 144, 2, Area.RAM, Access.R),
    (Register.PRESENT_TEMPERATURE, 146, 1, Area.RAM, Access.R),
]


@pytest.mark.parametrize(("name", "address", "size", "area", "access"), XM430_LAYOUT)
def test_xm430_addresses_follow_the_emanual(name, address, size, area, access):
    field = XM430_W350[name]
    assert (field.address, field.size, field.area, field.access) == (address, size, area, access)


def test_models_are_found_by_number():
    assert table_for_model(1020) is XM430_W350
    assert table_for_model(1060) is XL430_W250
    assert set(MODELS) == {1020, 1060}
    with pytest.raises(KeyError, match="model number 9999"):
        table_for_model(9999)


def test_registers_do_not_overlap():
    for table in MODELS.values():
        fields = sorted(table.fields.values(), key=lambda f: f.address)
        for a, b in itertools.pairwise(fields):
            assert a.end <= b.address, (table.model_name, a.name, b.name)


def test_xl430_has_load_instead_of_current():
    assert Register.PRESENT_LOAD in XL430_W250 and Register.PRESENT_CURRENT not in XL430_W250
    assert Register.GOAL_CURRENT not in XL430_W250
    assert XL430_W250[Register.PRESENT_LOAD].address == 126
    with pytest.raises(KeyError, match="XL430-W250 has no register"):
        XL430_W250[Register.CURRENT_LIMIT]


def test_position_is_centred_at_2048_ticks():
    goal = XM430_W350[Register.GOAL_POSITION]
    assert encode(goal, 0.0) == (2048).to_bytes(4, "little")
    assert decode(goal, (3072).to_bytes(4, "little")) == pytest.approx(math.pi / 2)
    assert decode(goal, (0).to_bytes(4, "little")) == pytest.approx(-math.pi)
    assert goal.from_si(math.pi / 2) == 3072


def test_velocity_current_voltage_and_temperature_units():
    assert decode(XM430_W350["PRESENT_VELOCITY"], (-100).to_bytes(4, "little", signed=True)) == pytest.approx(
        -100 * 0.229 * 2 * math.pi / 60
    )
    assert decode(XM430_W350["PRESENT_CURRENT"], (-1000).to_bytes(2, "little", signed=True)) == pytest.approx(-2.69)
    assert decode(XM430_W350["PRESENT_INPUT_VOLTAGE"], (121).to_bytes(2, "little")) == pytest.approx(12.1)
    assert decode(XM430_W350["PRESENT_TEMPERATURE"], bytes((41,))) == 41
    assert encode(XM430_W350["BUS_WATCHDOG"], 0.1) == bytes((5,))
    assert encode(XM430_W350["RETURN_DELAY_TIME"], 0.0) == bytes((0,))
    assert encode(XM430_W350["PROFILE_VELOCITY"], 0.229 * 2 * math.pi / 60 * 50) == (50).to_bytes(4, "little")
    assert decode(XM430_W350["PROFILE_ACCELERATION"], (10).to_bytes(4, "little")) == pytest.approx(
        10 * 214.577 * 2 * math.pi / 3600
    )


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("GOAL_POSITION", 1e9),
        ("BUS_WATCHDOG", 3.0),
        ("TORQUE_ENABLE", 2),
        ("GOAL_CURRENT", -10.0),
        ("MAX_VOLTAGE_LIMIT", 5.0),
    ],
)
def test_out_of_range_values_are_refused_with_the_range(name, value):
    with pytest.raises(ValueError, match="outside"):
        encode(XM430_W350[name], value)


def test_decode_refuses_wrong_size():
    with pytest.raises(ValueError, match="has 4 byte"):
        decode(XM430_W350["PRESENT_POSITION"], b"\x00\x00")


def test_control_cycle_block_covers_current_velocity_position():
    block = XM430_W350.block(Register.PRESENT_POSITION, Register.PRESENT_CURRENT, Register.PRESENT_VELOCITY)
    assert (block.address, block.length) == (126, 10)
    raw = (
        (-10).to_bytes(2, "little", signed=True)
        + (20).to_bytes(4, "little", signed=True)
        + (2048 + 1024).to_bytes(4, "little")
    )
    values = block.decode(raw)
    assert values[Register.PRESENT_CURRENT] == pytest.approx(-0.0269)
    assert values[Register.PRESENT_VELOCITY] == pytest.approx(20 * 0.229 * 2 * math.pi / 60)
    assert values[Register.PRESENT_POSITION] == pytest.approx(math.pi / 2)
    with pytest.raises(ValueError, match="10 bytes"):
        block.decode(raw[:-1])


def test_block_spans_gaps_between_registers():
    block = XM430_W350.block("TORQUE_ENABLE", "HARDWARE_ERROR_STATUS")
    assert (block.address, block.length) == (64, 7)


def test_register_at_address():
    assert XM430_W350.at(98).name is Register.BUS_WATCHDOG
    assert XM430_W350.at(99) is None


def test_unknown_model_numbers_are_refused_by_name():
    with pytest.raises(UnknownModel, match=r"no control table for 2XL430-W250 \(model number 1090\)"):
        table_for_model(1090)
    with pytest.raises(UnknownModel, match="model 4321"):
        table_for_model(4321)
    assert model_name(1060) == "XL430-W250" and model_name(4321) == "model 4321"


def test_power_on_values_follow_the_emanual():
    xm, xl = XM430_W350, XL430_W250
    assert (xm[Register.MODEL_NUMBER].default, xl[Register.MODEL_NUMBER].default) == (1020, 1060)
    assert (xm[Register.POSITION_P_GAIN].default, xl[Register.POSITION_P_GAIN].default) == (800, 640)
    assert (xm[Register.POSITION_D_GAIN].default, xl[Register.POSITION_D_GAIN].default) == (0, 4000)
    assert (xm[Register.VELOCITY_LIMIT].default, xl[Register.VELOCITY_LIMIT].default) == (200, 265)
    assert (xm[Register.TEMPERATURE_LIMIT].default, xl[Register.TEMPERATURE_LIMIT].default) == (80, 72)
    assert xm[Register.RETURN_DELAY_TIME].default == xl[Register.RETURN_DELAY_TIME].default == 250
    assert xm[Register.CURRENT_LIMIT].default == 1193


def test_indirect_addresses_point_at_their_own_data_by_default():
    for table in MODELS.values():
        assert (table[indirect_address(1)].address, table[indirect_address(1)].default) == (168, 224)
        assert (table[indirect_address(29)].address, table[indirect_address(29)].default) == (578, 634)
        assert table[indirect_data(56)].address == 661
        assert table.size == 662


def test_effort_register_and_its_torque_per_unit():
    """XM430: Present Current, 2.69 mA x 4.1 N m / 2.3 A; XL430: Present Load, 0.1 % of 1.5 N m."""
    assert XM430_W350.effort is Register.PRESENT_CURRENT and XM430_W350.reports_current
    assert XM430_W350.effort_nm_per_unit == pytest.approx(2.69e-3 * 4.1 / 2.3)
    assert XL430_W250.effort is Register.PRESENT_LOAD and not XL430_W250.reports_current
    assert XL430_W250.effort_nm_per_unit == pytest.approx(1.5e-3)
    assert 0 in XM430_W350.operating_modes and 0 not in XL430_W250.operating_modes  # no current mode
