//! DynamoDB numbers: exact decimals with up to 38 significant digits and a magnitude between
//! 1E-130 and 9.99…E+125, never binary floating point.
//!
//! A [`Number`] is kept normalised: `value = ±0.d₁d₂…dₙ × 10^exponent` with `d₁ ≠ 0` and
//! `dₙ ≠ 0` (leading and trailing zeros trimmed, as DynamoDB does), or zero. Two numbers that
//! are numerically equal therefore have equal representations, so derived equality and hashing
//! are numeric equality.

use std::cmp::Ordering;
use std::fmt;

use crate::limits::{NUMBER_EXPONENT_MAX, NUMBER_EXPONENT_MIN, NUMBER_PRECISION_DIGITS_MAX};

/// An exact DynamoDB number.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct Number {
    negative: bool,
    /// Decimal digits 0..=9, no leading or trailing zero; empty for zero.
    digits: Box<[u8]>,
    /// Position of the decimal point: value = 0.digits × 10^exponent.
    exponent: i32,
}

/// Why a string or a computation is not a DynamoDB number.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NumberError {
    /// Not numeric text at all.
    Invalid,
    /// More than 38 significant digits.
    Precision,
    /// Magnitude 1E+126 or larger.
    Overflow,
    /// Non-zero magnitude below 1E-130.
    Underflow,
}

impl NumberError {
    /// The message DynamoDB sends in its ValidationException for this error.
    pub fn message(&self) -> &'static str {
        match self {
            NumberError::Invalid => "A value provided cannot be converted into a number",
            NumberError::Precision => "Attempting to store more than 38 significant digits in a Number",
            NumberError::Overflow => {
                "Number overflow. Attempting to store a number with magnitude larger than supported range"
            }
            NumberError::Underflow => {
                "Number underflow. Attempting to store a number with magnitude smaller than supported range"
            }
        }
    }
}

impl fmt::Display for NumberError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.message())
    }
}

impl std::error::Error for NumberError {}

impl Number {
    /// Zero.
    pub fn zero() -> Number {
        Number { negative: false, digits: Box::new([]), exponent: 0 }
    }

    /// Parses DynamoDB's number text: an optional sign, digits with an optional decimal point,
    /// and an optional exponent (`-12.5e3`). The result is range- and precision-checked.
    pub fn parse(text: &str) -> Result<Number, NumberError> {
        let bytes = text.as_bytes();
        let mut i = 0;
        let mut negative = false;
        if i < bytes.len() && (bytes[i] == b'-' || bytes[i] == b'+') {
            negative = bytes[i] == b'-';
            i += 1;
        }
        let mut digits: Vec<u8> = Vec::with_capacity(bytes.len());
        let mut seen_digit = false;
        let mut seen_point = false;
        // Number of digits before the decimal point (after dropping leading zeros).
        let mut integer_digits: i64 = 0;
        // Leading zeros after the point and before the first significant digit.
        let mut fraction_leading_zeros: i64 = 0;
        while i < bytes.len() {
            let c = bytes[i];
            match c {
                b'0'..=b'9' => {
                    seen_digit = true;
                    let d = c - b'0';
                    if digits.is_empty() && d == 0 {
                        if seen_point {
                            fraction_leading_zeros += 1;
                        }
                    } else {
                        digits.push(d);
                        if !seen_point {
                            integer_digits += 1;
                        }
                    }
                }
                b'.' if !seen_point => seen_point = true,
                _ => break,
            }
            i += 1;
        }
        if !seen_digit {
            return Err(NumberError::Invalid);
        }
        let mut exp_part: i64 = 0;
        if i < bytes.len() {
            if bytes[i] != b'e' && bytes[i] != b'E' {
                return Err(NumberError::Invalid);
            }
            i += 1;
            let mut exp_negative = false;
            if i < bytes.len() && (bytes[i] == b'-' || bytes[i] == b'+') {
                exp_negative = bytes[i] == b'-';
                i += 1;
            }
            if i == bytes.len() {
                return Err(NumberError::Invalid);
            }
            while i < bytes.len() {
                let c = bytes[i];
                if !c.is_ascii_digit() {
                    return Err(NumberError::Invalid);
                }
                // Saturate: anything this large is out of range either way.
                exp_part = (exp_part * 10 + i64::from(c - b'0')).min(1_000_000_000);
                i += 1;
            }
            if exp_negative {
                exp_part = -exp_part;
            }
        }
        while digits.last() == Some(&0) {
            digits.pop();
        }
        if digits.is_empty() {
            return Ok(Number::zero());
        }
        let exponent = if integer_digits > 0 { integer_digits } else { -fraction_leading_zeros } + exp_part;
        Number::from_parts(negative, digits, exponent)
    }

    /// Builds a number from trimmed digits and an exponent, checking DynamoDB's limits.
    fn from_parts(negative: bool, mut digits: Vec<u8>, exponent: i64) -> Result<Number, NumberError> {
        while digits.first() == Some(&0) {
            digits.remove(0);
        }
        let lead = digits.iter().position(|&d| d != 0);
        let exponent = match lead {
            None => return Ok(Number::zero()),
            Some(_) => exponent,
        };
        while digits.last() == Some(&0) {
            digits.pop();
        }
        if exponent > i64::from(NUMBER_EXPONENT_MAX) {
            return Err(NumberError::Overflow);
        }
        if exponent < i64::from(NUMBER_EXPONENT_MIN) {
            return Err(NumberError::Underflow);
        }
        if digits.len() > NUMBER_PRECISION_DIGITS_MAX {
            return Err(NumberError::Precision);
        }
        Ok(Number { negative, digits: digits.into_boxed_slice(), exponent: exponent as i32 })
    }

    /// True for zero.
    pub fn is_zero(&self) -> bool {
        self.digits.is_empty()
    }

    /// True for numbers below zero.
    pub fn is_negative(&self) -> bool {
        self.negative
    }

    /// Significant decimal digits (0 for zero).
    pub fn significant_digits(&self) -> usize {
        self.digits.len()
    }

    /// The size DynamoDB charges for this number: one byte per two significant digits plus one.
    pub fn size_bytes(&self) -> usize {
        self.digits.len().div_ceil(2) + 1
    }

    /// The value negated.
    pub fn negate(&self) -> Number {
        if self.is_zero() {
            return self.clone();
        }
        Number { negative: !self.negative, digits: self.digits.clone(), exponent: self.exponent }
    }

    /// Exact sum, failing as DynamoDB does when the result leaves the representable range.
    pub fn add(&self, other: &Number) -> Result<Number, NumberError> {
        if self.is_zero() {
            return Ok(other.clone());
        }
        if other.is_zero() {
            return Ok(self.clone());
        }
        // Align both on a common scale: digit k of a number sits at power exponent-1-k.
        let low = |n: &Number| i64::from(n.exponent) - n.digits.len() as i64;
        let low_power = low(self).min(low(other));
        let high_power = i64::from(self.exponent.max(other.exponent));
        let width = (high_power - low_power) as usize + 1; // one spare digit for the carry
        let place = |n: &Number| -> Vec<i16> {
            let mut v = vec![0i16; width];
            for (k, &d) in n.digits.iter().enumerate() {
                let power = i64::from(n.exponent) - 1 - k as i64;
                v[(power - low_power) as usize] = i16::from(d);
            }
            v
        };
        let a = place(self);
        let b = place(other);
        let (negative, magnitude) = if self.negative == other.negative {
            let mut out = vec![0i16; width];
            let mut carry = 0;
            for k in 0..width {
                let s = a[k] + b[k] + carry;
                out[k] = s % 10;
                carry = s / 10;
            }
            (self.negative, out)
        } else {
            // Subtract the smaller magnitude from the larger.
            let (big, small, negative) = match self.cmp_magnitude(other) {
                Ordering::Equal => return Ok(Number::zero()),
                Ordering::Greater => (&a, &b, self.negative),
                Ordering::Less => (&b, &a, other.negative),
            };
            let mut out = vec![0i16; width];
            let mut borrow = 0;
            for k in 0..width {
                let mut s = big[k] - small[k] - borrow;
                borrow = 0;
                if s < 0 {
                    s += 10;
                    borrow = 1;
                }
                out[k] = s;
            }
            (negative, out)
        };
        // out[k] is the digit at power low_power + k; most significant last.
        let top = match magnitude.iter().rposition(|&d| d != 0) {
            None => return Ok(Number::zero()),
            Some(t) => t,
        };
        let digits: Vec<u8> = magnitude[..=top].iter().rev().map(|&d| d as u8).collect();
        let exponent = low_power + top as i64 + 1;
        Number::from_parts(negative, digits, exponent)
    }

    /// Exact difference `self - other`.
    pub fn sub(&self, other: &Number) -> Result<Number, NumberError> {
        self.add(&other.negate())
    }

    fn cmp_magnitude(&self, other: &Number) -> Ordering {
        match (self.is_zero(), other.is_zero()) {
            (true, true) => return Ordering::Equal,
            (true, false) => return Ordering::Less,
            (false, true) => return Ordering::Greater,
            _ => {}
        }
        self.exponent.cmp(&other.exponent).then_with(|| self.digits.cmp(&other.digits))
    }

    /// Appends the order-preserving key encoding: byte strings of two numbers compare as the
    /// numbers do, and the encoding is self-delimiting.
    ///
    /// On disk: never change. Zero is `0x80`; a positive number is `0x81`, the biased exponent
    /// byte, one byte `d+1` per digit and a `0x00` terminator; a negative number is `0x7F`
    /// followed by the bitwise complement of the positive number's bytes.
    pub fn encode_key(&self, out: &mut Vec<u8>) {
        if self.is_zero() {
            out.push(0x80);
            return;
        }
        // exponent lies in NUMBER_EXPONENT_MIN..=NUMBER_EXPONENT_MAX, so the bias fits in a byte.
        let biased = (self.exponent - NUMBER_EXPONENT_MIN) as u8;
        let flip = if self.negative { 0xFF } else { 0x00 };
        out.push(if self.negative { 0x7F } else { 0x81 });
        out.push(biased ^ flip);
        for &d in self.digits.iter() {
            out.push((d + 1) ^ flip);
        }
        out.push(flip);
    }

    /// Integer value if this number is integral and fits in i64 (used for TTL and list indexes).
    pub fn to_i64(&self) -> Option<i64> {
        if self.is_zero() {
            return Some(0);
        }
        if self.exponent < self.digits.len() as i32 || self.exponent > 19 {
            return None;
        }
        let mut v: i128 = 0;
        for k in 0..self.exponent as usize {
            v = v * 10 + i128::from(*self.digits.get(k).unwrap_or(&0));
        }
        if self.negative {
            v = -v;
        }
        i64::try_from(v).ok()
    }

    /// Approximate value as f64, for display and metrics only, never for storage or comparison.
    pub fn to_f64_lossy(&self) -> f64 {
        self.to_string().parse().unwrap_or(0.0)
    }
}

impl From<i64> for Number {
    fn from(v: i64) -> Number {
        Number::parse(&v.to_string()).expect("every i64 is a valid DynamoDB number")
    }
}

impl Ord for Number {
    fn cmp(&self, other: &Number) -> Ordering {
        match (self.is_zero() || !self.negative, other.is_zero() || !other.negative) {
            (true, false) => Ordering::Greater,
            (false, true) => Ordering::Less,
            (true, true) => self.cmp_magnitude(other),
            (false, false) => other.cmp_magnitude(self),
        }
    }
}

impl PartialOrd for Number {
    fn partial_cmp(&self, other: &Number) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

/// DynamoDB's normalised plain notation: no exponent, no trailing zeros, no `+`, `-0` is `0`.
impl fmt::Display for Number {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.is_zero() {
            return f.write_str("0");
        }
        let mut s = String::with_capacity(self.digits.len() + 4);
        if self.negative {
            s.push('-');
        }
        let n = self.digits.len() as i32;
        let digit = |k: usize| char::from(b'0' + self.digits[k]);
        if self.exponent <= 0 {
            s.push_str("0.");
            for _ in 0..(-self.exponent) {
                s.push('0');
            }
            (0..n as usize).for_each(|k| s.push(digit(k)));
        } else if self.exponent >= n {
            (0..n as usize).for_each(|k| s.push(digit(k)));
            for _ in 0..(self.exponent - n) {
                s.push('0');
            }
        } else {
            let point = self.exponent as usize;
            (0..point).for_each(|k| s.push(digit(k)));
            s.push('.');
            (point..n as usize).for_each(|k| s.push(digit(k)));
        }
        f.write_str(&s)
    }
}

impl fmt::Debug for Number {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Number({self})")
    }
}

impl std::str::FromStr for Number {
    type Err = NumberError;
    fn from_str(s: &str) -> Result<Number, NumberError> {
        Number::parse(s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn norm(s: &str) -> Result<String, NumberError> {
        Number::parse(s).map(|n| n.to_string())
    }

    #[test]
    fn normalises_like_dynamodb() {
        let cases = [
            ("1.50", "1.5"),
            ("-0", "0"),
            ("0.000", "0"),
            ("+7", "7"),
            ("007", "7"),
            ("1e3", "1000"),
            ("1E-5", "0.00001"),
            ("-12.340e1", "-123.4"),
            (".5", "0.5"),
            ("5.", "5"),
            ("123456789012345678901234567890.12345678", "123456789012345678901234567890.12345678"),
            ("0.00120", "0.0012"),
            ("100", "100"),
            ("1e125", &format!("1{}", "0".repeat(125))),
            ("1e-130", &format!("0.{}1", "0".repeat(129))),
        ];
        for (input, want) in cases {
            assert_eq!(norm(input).as_deref(), Ok(want), "input {input}");
        }
    }

    #[test]
    fn rejects_what_dynamodb_rejects() {
        let cases = [
            ("", NumberError::Invalid),
            ("abc", NumberError::Invalid),
            ("1e", NumberError::Invalid),
            ("1.2.3", NumberError::Invalid),
            (" 1", NumberError::Invalid),
            ("1 ", NumberError::Invalid),
            ("--1", NumberError::Invalid),
            ("NaN", NumberError::Invalid),
            ("Infinity", NumberError::Invalid),
            ("1e126", NumberError::Overflow),
            ("1e999999999999999", NumberError::Overflow),
            ("1e-131", NumberError::Underflow),
            ("123456789012345678901234567890123456789", NumberError::Precision),
        ];
        for (input, want) in cases {
            assert_eq!(norm(input), Err(want), "input {input:?}");
        }
        // 38 digits is fine; trailing zeros do not count as significant.
        assert!(norm("12345678901234567890123456789012345678").is_ok());
        assert!(norm(&format!("1{}", "0".repeat(100))).is_ok());
        assert!(norm("9.9999999999999999999999999999999999999E+125").is_ok());
    }

    #[test]
    fn orders_numerically() {
        let sorted = [
            "-1e125", "-100", "-10.5", "-10", "-1", "-0.5", "-0.0001", "0", "1e-130", "0.0001", "0.5", "1", "1.5",
            "10", "10.01", "99", "100", "1e125",
        ];
        let nums: Vec<Number> = sorted.iter().map(|s| Number::parse(s).unwrap()).collect();
        for w in nums.windows(2) {
            assert!(w[0] < w[1], "{:?} < {:?}", w[0], w[1]);
            let (mut a, mut b) = (Vec::new(), Vec::new());
            w[0].encode_key(&mut a);
            w[1].encode_key(&mut b);
            assert!(a < b, "key encoding of {:?} < {:?}", w[0], w[1]);
        }
        assert_eq!(Number::parse("1.0").unwrap(), Number::parse("1").unwrap());
    }

    #[test]
    fn adds_exactly() {
        let cases = [
            ("1", "2", "3"),
            ("0.1", "0.2", "0.3"),
            ("-5", "3", "-2"),
            ("5", "-5", "0"),
            ("99.99", "0.01", "100"),
            ("1e20", "1e-10", "100000000000000000000.0000000001"),
            ("-0.5", "-0.25", "-0.75"),
            ("1000", "-0.001", "999.999"),
        ];
        for (a, b, want) in cases {
            let sum = Number::parse(a).unwrap().add(&Number::parse(b).unwrap()).unwrap();
            assert_eq!(sum.to_string(), want, "{a} + {b}");
        }
        let big = Number::parse("9.9999999999999999999999999999999999999E+125").unwrap();
        assert_eq!(big.add(&big), Err(NumberError::Overflow));
        let p = Number::parse("1e30").unwrap().add(&Number::parse("1e-30").unwrap());
        assert_eq!(p, Err(NumberError::Precision));
        assert_eq!(Number::parse("7").unwrap().sub(&Number::parse("10").unwrap()).unwrap().to_string(), "-3");
    }

    #[test]
    fn integer_conversion_and_size() {
        assert_eq!(Number::parse("1700000000").unwrap().to_i64(), Some(1_700_000_000));
        assert_eq!(Number::parse("-42").unwrap().to_i64(), Some(-42));
        assert_eq!(Number::parse("1.5").unwrap().to_i64(), None);
        assert_eq!(Number::parse("1e30").unwrap().to_i64(), None);
        assert_eq!(Number::parse("12345").unwrap().size_bytes(), 4);
        assert_eq!(Number::parse("0").unwrap().size_bytes(), 1);
    }
}
