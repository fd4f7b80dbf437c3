//! Money as exact integer cents: parsing decimal text (catalogue strings, JSON numbers) and formatting.

/// Why a decimal text is not an amount of cents.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum MoneyError {
    #[error("must be a decimal number")]
    NotANumber,
    #[error("must have at most 2 decimal places")]
    TooPrecise,
    #[error("is too large")]
    TooLarge,
}

/// Most digits an amount of cents may have, so it always fits an `i64`.
const MAX_DIGITS: usize = 18;

/// Parses decimal text such as `49.90`, `-3`, `4.99e1` or `1e-2` into exact cents, without ever
/// going through floating point. Exponents are accepted because that is how JSON numbers (and
/// `f64` formatting) may spell an amount; more than two significant decimal places is an error,
/// never a silent rounding.
pub fn parse_cents(text: &str) -> Result<i64, MoneyError> {
    let text = text.trim();
    let (negative, unsigned) = match text.as_bytes().first() {
        Some(b'-') => (true, &text[1..]),
        Some(b'+') => (false, &text[1..]),
        _ => (false, text),
    };
    let (mantissa, exponent) = match unsigned.split_once(['e', 'E']) {
        Some((m, e)) => (m, e.parse::<i64>().map_err(|_| MoneyError::NotANumber)?),
        None => (unsigned, 0),
    };
    let (int_part, frac_part) = match mantissa.split_once('.') {
        Some((i, f)) if !f.is_empty() => (i, f),
        Some(_) => return Err(MoneyError::NotANumber),
        None => (mantissa, ""),
    };
    let all_digits = |s: &str| s.bytes().all(|b| b.is_ascii_digit());
    if int_part.is_empty() || !all_digits(int_part) || !all_digits(frac_part) {
        return Err(MoneyError::NotANumber);
    }
    // value = digits × 10^-scale; cents = digits × 10^(2 - scale).
    let digits = format!("{int_part}{frac_part}");
    let digits = digits.trim_start_matches('0');
    if digits.is_empty() {
        return Ok(0);
    }
    let shift = 2 - (frac_part.len() as i64 - exponent);
    let cents_digits = if shift >= 0 {
        if digits.len() as i64 + shift > MAX_DIGITS as i64 {
            return Err(MoneyError::TooLarge);
        }
        format!("{digits}{}", "0".repeat(shift as usize))
    } else {
        let dropped = (-shift) as usize;
        if dropped >= digits.len() || !all_digits_zero(&digits[digits.len() - dropped..]) {
            return Err(MoneyError::TooPrecise);
        }
        digits[..digits.len() - dropped].to_owned()
    };
    if cents_digits.len() > MAX_DIGITS {
        return Err(MoneyError::TooLarge);
    }
    let cents: i64 = cents_digits.parse().map_err(|_| MoneyError::TooLarge)?;
    Ok(if negative { -cents } else { cents })
}

fn all_digits_zero(s: &str) -> bool {
    s.bytes().all(|b| b == b'0')
}

/// Formats cents as a decimal amount with two places: `4990` → `49.90`.
pub fn format_cents(cents: i64) -> String {
    let sign = if cents < 0 { "-" } else { "" };
    let abs = cents.unsigned_abs();
    format!("{sign}{}.{:02}", abs / 100, abs % 100)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decimal_text_becomes_exact_cents() {
        for (text, cents) in [
            ("49.90", 4990),
            ("49.9", 4990),
            ("49", 4900),
            ("0.01", 1),
            ("1000000", 100_000_000),
            ("-3.5", -350),
            ("+7", 700),
            ("0", 0),
            ("0.00", 0),
            ("007.10", 710),
            ("4.99e1", 4990),
            ("1E2", 10_000),
            ("1e-2", 1),
            ("1.50000", 150),
            ("150e-2", 150),
            ("100.0", 10_000),
        ] {
            assert_eq!(parse_cents(text), Ok(cents), "{text}");
        }
    }

    #[test]
    fn more_than_two_decimal_places_is_an_error_not_a_rounding() {
        for text in ["0.001", "49.999", "1e-3", "0.125", "12345e-5"] {
            assert_eq!(parse_cents(text), Err(MoneyError::TooPrecise), "{text}");
        }
    }

    #[test]
    fn malformed_and_huge_amounts_are_refused() {
        for text in [
            "", "abc", "1.", ".5", "1,5", "1.2.3", "--1", "1e", "e5", "NaN", "inf",
        ] {
            assert_eq!(parse_cents(text), Err(MoneyError::NotANumber), "{text}");
        }
        assert_eq!(parse_cents("1e17"), Err(MoneyError::TooLarge));
        assert_eq!(
            parse_cents("9999999999999999999"),
            Err(MoneyError::TooLarge)
        );
        assert_eq!(
            parse_cents("9999999999999999.99"),
            Ok(999_999_999_999_999_999)
        );
    }

    #[test]
    fn cents_format_with_two_decimal_places() {
        assert_eq!(format_cents(4990), "49.90");
        assert_eq!(format_cents(5), "0.05");
        assert_eq!(format_cents(100_000_000), "1000000.00");
        assert_eq!(format_cents(-50), "-0.50");
        assert_eq!(format_cents(0), "0.00");
    }
}
