//! Objects shared by every AMS API: amounts, results, datetimes, ids, env, order, payment method,
//! quotes, PSP customer info, wallets.

pub mod amount;
pub mod currency;
pub mod datetime;
pub mod env;
pub mod ids;
pub mod order;
pub mod payment_method;
pub mod psp;
pub mod quote;
pub mod result;
pub mod settlement;
pub mod wallet;
