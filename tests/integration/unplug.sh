#!/usr/bin/env bash
# vtoken token unplug/plug behave like pulling and inserting a USB token.
source "$(dirname "$0")/lib.sh"

check "create a token" "$vtoken" token create usb --label usb --pin 123456 --puk 12345678
slot_of() { p11 --list-slots | awk -v l="$1" '/^Slot/ {slot=$3; gsub(/[():]/, "", slot)} $0 ~ "token label *: "l"$" {print slot}'; }
slot=$(slot_of usb)
check "the token has a slot" test -n "$slot"
check "unplug" "$vtoken" token unplug usb
expect_no_output "the token is gone from the token slots" "token label *: usb" p11 -T
slot_state() { p11 --list-slots | grep -A1 "($slot)"; }
expect_output "its slot is still listed, empty" "\\(empty\\)" slot_state
expect_fail "logging in fails while unplugged" p11 --slot "$slot" --login --pin 123456 --list-objects
check "plug" "$vtoken" token plug usb
check "the same slot id is back with the token" test "$(slot_of usb)" = "$slot"
check "logging in works again" p11 --token-label usb --login --pin 123456 --list-objects
finish
