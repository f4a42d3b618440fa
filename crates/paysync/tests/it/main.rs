//! paysync's integration tests: one binary, real processes, real HTTP on loopback, localstripe
//! driven by the official `stripe` SDK. Run through `./scripts/test.sh`, which prepares the venv.

mod browser;
mod delivery;
mod erase;
mod harness;
mod hostile;
mod ingestion;
mod leaks;
mod openapi;
mod operator;
mod opt_in;
mod scale_out;
mod signatures;
mod two_way;
