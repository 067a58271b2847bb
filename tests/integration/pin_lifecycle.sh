#!/usr/bin/env bash
# PIN and PUK behave like a real USB token, seen through stock pkcs11-tool:
# counters and flags after every attempt, lockout, unblock with the PUK,
# PIN change, and a PUK lockout that blocks the token for good.
source "$(dirname "$0")/lib.sh"

flags() { p11 --list-token-slots 2>/dev/null | grep -A8 "token label *: $1\$" | grep "token flags"; }
login_with() {  # TOKEN PIN
  p11 --token-label "$1" --login --pin "$2" --list-objects
}

check "vtoken token create prints the initial PIN and PUK" bash -c \
  "'$vtoken' token create life --label life > '$work/create.txt'"
pin=$(sed -nE 's/.*\bPIN\b[^0-9]*([0-9]+).*/\1/p' "$work/create.txt" | head -n1)
puk=$(sed -nE 's/.*\bPUK\b[^0-9]*([0-9]+).*/\1/p' "$work/create.txt" | head -n1)
check "PIN and PUK were printed" test -n "$pin" -a -n "$puk"
expect_output "a new token must change its PIN" "user PIN to be changed" flags life

check "the right PIN logs in" login_with life "$pin"
expect_fail "a wrong PIN is refused" login_with life 00000000
expect_output "after one wrong PIN: count low" "user PIN count low" flags life
expect_fail "a second wrong PIN is refused" login_with life 00000001
expect_output "after two wrong PINs: final try" "final user PIN try" flags life
expect_fail "a third wrong PIN is refused" login_with life 00000002
expect_output "after three wrong PINs: locked" "user PIN locked" flags life
expect_fail "the right PIN is refused once locked" login_with life "$pin"
expect_output "the refusal is CKR_PIN_LOCKED" "CKR_PIN_LOCKED" login_with life "$pin"

expect_fail "unblock with a wrong PUK is refused" p11 --token-label life --unlock-pin --puk 99999999 --new-pin 5555
expect_output "a wrong PUK lowers the PUK counter" "SO PIN count low" flags life
check "pkcs11-tool --unlock-pin with the PUK sets a new PIN" p11 --token-label life --unlock-pin --puk "$puk" --new-pin 5555
check "the new PIN logs in" login_with life 5555
expect_no_output "the PIN counter is back to full (no count-low flag)" "user PIN count low" flags life

check "the user changes the PIN with C_SetPIN" p11 --token-label life --login --pin 5555 --change-pin --new-pin 246810
check "the changed PIN logs in" login_with life 246810
expect_no_output "the to-be-changed flag is gone" "to be changed" flags life
expect_output "a too short PIN is CKR_PIN_LEN_RANGE" "CKR_PIN_LEN_RANGE" \
  p11 --token-label life --login --pin 246810 --change-pin --new-pin 12

check "vtoken token change-pin (PINs on stdin)" bash -c \
  "printf '246810\n13579\n' | '$vtoken' token change-pin life --pin-stdin"
check "the PIN changed by the CLI logs in" login_with life 13579

# Lock the PIN again and unblock with the CLI.
for i in 1 2 3; do login_with life 0000000$i >/dev/null 2>&1; done
expect_output "locked again" "user PIN locked" flags life
check "vtoken token unblock (PUK and new PIN on stdin)" bash -c \
  "printf '%s\n97531\n' '$puk' | '$vtoken' token unblock life --pin-stdin"
check "the PIN set by unblock logs in" login_with life 97531

# Ten wrong PUKs block the token for good.
# (an SO login needs a read-write session: --init-pin makes pkcs11-tool open one)
so_init_pin() { p11 --token-label life --login --login-type so --so-pin "$1" --init-pin --pin 11112222; }
for i in $(seq 0 9); do so_init_pin 1000000$i >/dev/null 2>&1; done
expect_output "after ten wrong PUKs: SO PIN locked" "SO PIN locked" flags life
expect_output "the right PUK no longer works: CKR_PIN_LOCKED" "CKR_PIN_LOCKED" so_init_pin "$puk"
finish
