//! The example `bind_and_charge`, run as a test: its code is included here as a module.

#[allow(dead_code, reason = "the example's `main` is not called here")]
#[path = "../../../examples/bind_and_charge.rs"]
mod bind_and_charge;

use ams_protocol::{Amount, Currency, PaymentStatus};

#[tokio::test]
async fn the_example_binds_and_charges() {
    let mut out = Vec::new();
    let charged = bind_and_charge::run(&mut out).await.unwrap();
    let printed = String::from_utf8(out).unwrap();

    assert_eq!(charged.status, PaymentStatus::Success);
    assert_eq!(charged.debits, 1);
    assert_eq!(charged.balance, Amount::new(Currency::USD, 9_000));
    assert!(printed.contains(&charged.payment_id), "{printed}");
    // One line per step, in order.
    let steps: Vec<&str> = printed
        .lines()
        .filter_map(|line| line.split_once(". ").map(|(n, _)| n))
        .collect();
    assert_eq!(steps, ["1", "2", "3", "4", "5", "6", "7", "8"], "{printed}");
    assert!(printed.contains("paymentStatus SUCCESS"), "{printed}");
}
