//! Command-line interface (DESIGN section 3 is a contract).
