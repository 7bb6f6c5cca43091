//! Money without floats: an ISO 4217 [`Currency`] with its number of minor units, and
//! amounts as whole minor units (`i64` per amount, `i128` for sums). Wire amounts are
//! signed decimal strings (`"-1250.00"`); the statement shows them with thousands
//! separators (`-1,250.00`).

use super::Invalid;

/// The currencies we accept and their minor units (ISO 4217). A small static table of
/// the currencies our clients use, East Africa first; an unknown code is refused.
const CURRENCIES: [(&str, u8); 44] = [
    ("KES", 2),
    ("UGX", 0),
    ("TZS", 2),
    ("RWF", 0),
    ("BIF", 0),
    ("SSP", 2),
    ("ETB", 2),
    ("SOS", 2),
    ("CDF", 2),
    ("DJF", 0),
    ("MWK", 2),
    ("MZN", 2),
    ("ZMW", 2),
    ("ZAR", 2),
    ("NGN", 2),
    ("GHS", 2),
    ("EGP", 2),
    ("MAD", 2),
    ("XAF", 0),
    ("XOF", 0),
    ("USD", 2),
    ("EUR", 2),
    ("GBP", 2),
    ("CHF", 2),
    ("SEK", 2),
    ("NOK", 2),
    ("DKK", 2),
    ("CAD", 2),
    ("AUD", 2),
    ("CNY", 2),
    ("INR", 2),
    ("JPY", 0),
    ("KRW", 0),
    ("ISK", 0),
    ("AED", 2),
    ("SAR", 2),
    ("QAR", 2),
    ("BHD", 3),
    ("KWD", 3),
    ("OMR", 3),
    ("JOD", 3),
    ("TND", 3),
    ("LYD", 3),
    ("IQD", 3),
];

/// The largest magnitude one amount may have, in minor units (15 digits). Sums of up
/// to millions of such amounts still fit an `i128` many times over.
pub const MAX_MINOR_UNITS: i64 = 999_999_999_999_999;

/// A supported ISO 4217 currency.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Currency {
    code: &'static str,
    minor_units: u8,
}

impl Currency {
    pub const KES: Self = Self {
        code: "KES",
        minor_units: 2,
    };

    /// An upper-case ISO 4217 code from the table above.
    pub fn parse(raw: &str) -> Result<Self, Invalid> {
        CURRENCIES
            .iter()
            .find(|(code, _)| *code == raw)
            .map(|&(code, minor_units)| Self { code, minor_units })
            .ok_or("must be a supported ISO 4217 currency code in upper case, like KES")
    }

    pub fn code(self) -> &'static str {
        self.code
    }

    pub fn minor_units(self) -> u8 {
        self.minor_units
    }

    /// Parses a signed decimal string with at most this currency's minor units
    /// (`"-1250.00"`, `"1250.5"`, `"300"`) into whole minor units. No exponent, no
    /// separators, no zero.
    pub fn parse_amount(self, raw: &str) -> Result<i64, Invalid> {
        const SHAPE: Invalid = "must be a signed decimal string like \"-1250.00\"";
        let (negative, unsigned) = match raw.strip_prefix('-') {
            Some(rest) => (true, rest),
            None => (false, raw.strip_prefix('+').unwrap_or(raw)),
        };
        let (whole, fraction) = match unsigned.split_once('.') {
            Some((whole, fraction)) => (whole, Some(fraction)),
            None => (unsigned, None),
        };
        let digits = |part: &str| !part.is_empty() && part.bytes().all(|b| b.is_ascii_digit());
        if !digits(whole) || fraction.is_some_and(|fraction| !digits(fraction)) {
            return Err(SHAPE);
        }
        let fraction = fraction.unwrap_or("");
        if fraction.len() > usize::from(self.minor_units) {
            return Err(match self.minor_units {
                0 => "has decimals, but this currency has no minor units",
                2 => "has more than 2 decimals, the minor units of this currency",
                _ => "has more decimals than the minor units of this currency",
            });
        }
        let whole = whole.trim_start_matches('0');
        if whole.len() > 15 {
            return Err("is too large");
        }
        let scale = 10_i64.pow(u32::from(self.minor_units));
        let whole: i64 = if whole.is_empty() {
            0
        } else {
            whole.parse().map_err(|_| SHAPE)?
        };
        let padded = format!("{fraction:0<width$}", width = usize::from(self.minor_units));
        let fraction: i64 = if padded.is_empty() {
            0
        } else {
            padded.parse().map_err(|_| SHAPE)?
        };
        let magnitude = whole
            .checked_mul(scale)
            .and_then(|value| value.checked_add(fraction))
            .filter(|value| *value <= MAX_MINOR_UNITS)
            .ok_or("is too large")?;
        if magnitude == 0 {
            return Err("must not be zero");
        }
        Ok(if negative { -magnitude } else { magnitude })
    }

    /// The wire form: `-1250.00` (no separators), as accepted by `parse_amount`.
    pub fn plain(self, minor: i128) -> String {
        self.format(minor, "")
    }

    /// The statement form: `-1,250.00`.
    pub fn grouped(self, minor: i128) -> String {
        self.format(minor, ",")
    }

    fn format(self, minor: i128, separator: &str) -> String {
        let scale = 10_u128.pow(u32::from(self.minor_units));
        let magnitude = minor.unsigned_abs();
        let whole = (magnitude / scale).to_string();
        let mut out = String::with_capacity(whole.len() + 8);
        if minor < 0 {
            out.push('-');
        }
        for (index, digit) in whole.chars().enumerate() {
            if index > 0 && (whole.len() - index) % 3 == 0 {
                out.push_str(separator);
            }
            out.push(digit);
        }
        if self.minor_units > 0 {
            out.push('.');
            let fraction = (magnitude % scale).to_string();
            for _ in fraction.len()..usize::from(self.minor_units) {
                out.push('0');
            }
            out.push_str(&fraction);
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn currency(code: &str) -> Currency {
        Currency::parse(code).unwrap()
    }

    #[test]
    fn amounts_parse_into_minor_units() {
        let kes = currency("KES");
        assert_eq!(kes.parse_amount("-1250.00"), Ok(-125_000));
        assert_eq!(kes.parse_amount("1250.5"), Ok(125_050));
        assert_eq!(kes.parse_amount("+300"), Ok(30_000));
        assert_eq!(kes.parse_amount("0.01"), Ok(1));
        assert_eq!(currency("UGX").parse_amount("15000"), Ok(15_000));
        assert_eq!(currency("BHD").parse_amount("1.234"), Ok(1_234));
        assert_eq!(
            kes.parse_amount("9999999999999.99"),
            Ok(999_999_999_999_999)
        );
    }

    #[test]
    fn bad_amounts_are_refused_with_a_reason() {
        let kes = currency("KES");
        for bad in [
            "", "-", "abc", "1,000.00", "1e3", "12.", ".5", "--1", "1.2.3", " 1", "NaN",
        ] {
            assert!(kes.parse_amount(bad).is_err(), "{bad:?}");
        }
        assert!(kes.parse_amount("1.234").unwrap_err().contains("decimals"));
        assert!(currency("JPY")
            .parse_amount("1.5")
            .unwrap_err()
            .contains("no minor units"));
        assert_eq!(kes.parse_amount("0.00"), Err("must not be zero"));
        assert_eq!(kes.parse_amount("10000000000000.00"), Err("is too large"));
        assert_eq!(
            kes.parse_amount("99999999999999999999"),
            Err("is too large")
        );
    }

    #[test]
    fn currencies_are_upper_case_iso_codes_from_the_table() {
        assert_eq!(currency("JPY").minor_units(), 0);
        assert_eq!(currency("BHD").minor_units(), 3);
        assert!(Currency::parse("kes").is_err());
        assert!(Currency::parse("XXX").is_err());
        assert_eq!(Currency::KES, currency("KES"));
    }

    #[test]
    fn formatting_groups_thousands_and_keeps_minor_units() {
        let kes = currency("KES");
        assert_eq!(kes.grouped(-125_000), "-1,250.00");
        assert_eq!(kes.grouped(12_345_678_901), "123,456,789.01");
        assert_eq!(kes.grouped(5), "0.05");
        assert_eq!(kes.grouped(0), "0.00");
        assert_eq!(kes.plain(-125_000), "-1250.00");
        assert_eq!(currency("UGX").grouped(1_500_000), "1,500,000");
        assert_eq!(currency("BHD").grouped(-1_234), "-1.234");
        for value in [-125_000, 1, 99, 100_000_000] {
            assert_eq!(kes.parse_amount(&kes.plain(value.into())), Ok(value));
        }
    }
}
