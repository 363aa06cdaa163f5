//! The demo's town: who makes and owns which device, where each stands (central Berlin, all
//! inside geohash `u33d`), and what each measures. Values follow a compressed day (one
//! [`DAY_MS`], ten minutes) so that a few minutes of watching show a temperature curve,
//! meters counting faster at the evening peak, a solar roof producing at noon, cars
//! draining and charging their batteries and moving through the streets.

use super::super::simulate::Behaviour;
use machina_sdk::device::numeric;
use machina_types::{Value, reading::StreamId};
use serde::Serialize;

/// One demo day, in ms of wall time.
pub(super) const DAY_MS: u64 = 600_000;
/// How much faster than real time the demo's day runs.
const TIME_SCALE: f64 = 86_400_000.0 / DAY_MS as f64;
/// The area moving devices stay in (latitude, longitude ranges): central Berlin.
const AREA: ([f64; 2], [f64; 2]) = ([52.475, 52.545], [13.375, 13.485]);
/// Geohash precision of a device's place in `demo.json`, and of a position reading.
pub(super) const PLACE_PRECISION: usize = 7;
const POSITION_PRECISION: usize = 8;

/// The makers: keyring name and registered name.
pub(super) const MAKERS: [(&str, &str); 3] = [
    ("demo-maker-northwind", "Northwind Sensors"),
    ("demo-maker-volta", "Volta Meters"),
    ("demo-maker-brandt", "Brandt Mobility"),
];
const NORTHWIND: usize = 0;
const VOLTA: usize = 1;
const BRANDT: usize = 2;

/// The operators owning most devices: keyring name and who they are.
pub(super) const OPERATORS: [(&str, &str); 3] = [
    ("demo-stadtwerk", "the city utility (weather stations, smart meters)"),
    ("demo-hausverwaltung", "a property manager (smart locks)"),
    ("demo-carshare", "a car-sharing company (cars, trackers)"),
];
/// Index of the utility in [`OPERATORS`].
pub(super) const UTILITY: usize = 0;
/// Index of the property manager in [`OPERATORS`].
pub(super) const PROPERTY: usize = 1;
/// Index of the car-sharing company in [`OPERATORS`].
pub(super) const CARSHARE: usize = 2;

/// Who owns a device.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Owner {
    /// One of the [`OPERATORS`].
    Operator(usize),
    /// The dev account `dev0` (the solar roof's sponsor).
    Dev0,
}

/// What a device is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub(super) enum Kind {
    /// Temperature and humidity; sells data.
    WeatherStation,
    /// A household's energy counter and power; sells energy.
    SmartMeter,
    /// A solar roof's production; sells energy (tokenized into a machine).
    Solar,
    /// A door; sells unlocks, which it performs and acknowledges.
    SmartLock,
    /// Battery and position; buys energy and unlocks from its own account.
    Car,
    /// Position of a cargo bike, a van or a container.
    Tracker,
}

/// A stream a device publishes.
#[derive(Clone, Copy, Debug, Serialize)]
pub(super) struct StreamSpec {
    /// Its id.
    pub(super) stream: StreamId,
    /// What it measures.
    pub(super) quantity: &'static str,
    /// The unit (`geohash`: the value is the position's geohash, as bytes).
    pub(super) unit: &'static str,
}

const fn stream(stream: StreamId, quantity: &'static str, unit: &'static str) -> StreamSpec {
    StreamSpec { stream, quantity, unit }
}

const WEATHER: [StreamSpec; 2] =
    [stream(1, "temperature", "C"), stream(2, "relative humidity", "%")];
const METERING: [StreamSpec; 2] = [stream(1, "energy", "kWh"), stream(2, "power", "W")];
const PRODUCING: [StreamSpec; 2] = [stream(1, "energy produced", "kWh"), stream(2, "power", "W")];
const DOOR: [StreamSpec; 1] = [stream(1, "door open", "open")];
const DRIVING: [StreamSpec; 2] = [stream(1, "battery", "%"), stream(2, "position", "geohash")];
const TRACKING: [StreamSpec; 1] = [stream(1, "position", "geohash")];

impl Kind {
    /// Its streams; the first is the one `demo.json` names.
    pub(super) fn streams(self) -> &'static [StreamSpec] {
        match self {
            Self::WeatherStation => &WEATHER,
            Self::SmartMeter => &METERING,
            Self::Solar => &PRODUCING,
            Self::SmartLock => &DOOR,
            Self::Car => &DRIVING,
            Self::Tracker => &TRACKING,
        }
    }
}

/// A device of the town.
#[derive(Debug)]
pub(super) struct Spec {
    /// Its name.
    pub(super) name: &'static str,
    /// What it is.
    pub(super) kind: Kind,
    /// Index of its maker in [`MAKERS`].
    pub(super) maker: usize,
    /// Its model.
    pub(super) model: &'static str,
    /// Who owns it.
    pub(super) owner: Owner,
    /// Where it stands (or starts): latitude, longitude.
    pub(super) place: (f64, f64),
    /// A lock whose motor is jammed: it takes leases but never performs them, so they time
    /// out, are refunded and its seller is slashed.
    pub(super) jammed: bool,
}

const fn spec(kind: Kind, maker: usize, model: &'static str, owner: Owner) -> Spec {
    Spec { name: "", kind, maker, model, owner, place: (0.0, 0.0), jammed: false }
}

const fn at(spec: Spec, name: &'static str, place: (f64, f64)) -> Spec {
    Spec { name, place, ..spec }
}

use Kind::*;
const STATION: Spec =
    spec(WeatherStation, NORTHWIND, "NW-WS200 weather station", Owner::Operator(UTILITY));
const METER: Spec = spec(SmartMeter, VOLTA, "VM-3 smart meter", Owner::Operator(UTILITY));
const SOLAR: Spec = spec(Solar, VOLTA, "VS-10 solar inverter", Owner::Dev0);
const LOCK: Spec = spec(SmartLock, BRANDT, "BL-1 smart lock", Owner::Operator(PROPERTY));
const JAMMED: Spec = Spec { jammed: true, ..LOCK };
const CAR: Spec = spec(Car, BRANDT, "BM e-Kombi", Owner::Operator(CARSHARE));
const TRACKER: Spec = spec(Tracker, NORTHWIND, "NW-T1 GPS tracker", Owner::Operator(CARSHARE));

/// The town's devices (30).
pub(super) const TOWN: &[Spec] = &[
    at(STATION, "Weather station Alexanderplatz", (52.5219, 13.4132)),
    at(STATION, "Weather station Tempelhofer Feld", (52.4736, 13.4017)),
    at(STATION, "Weather station Mauerpark", (52.5430, 13.4020)),
    at(STATION, "Weather station Treptower Park", (52.4900, 13.4700)),
    at(STATION, "Weather station Potsdamer Platz", (52.5096, 13.3759)),
    at(STATION, "Weather station Hauptbahnhof", (52.5251, 13.3694)),
    at(METER, "Smart meter Kollwitzplatz 12", (52.5365, 13.4176)),
    at(METER, "Smart meter Boxhagener Platz 4", (52.5105, 13.4598)),
    at(METER, "Smart meter Hermannplatz 9", (52.4869, 13.4244)),
    at(METER, "Smart meter Kottbusser Tor 2", (52.4991, 13.4181)),
    at(METER, "Smart meter Leopoldplatz 7", (52.5465, 13.3597)),
    at(METER, "Smart meter Gendarmenmarkt 1", (52.5138, 13.3927)),
    at(SOLAR, "Solar roof Kollwitzkiez", (52.5372, 13.4189)),
    at(LOCK, "Smart lock bike shed Hackescher Markt", (52.5225, 13.4020)),
    at(LOCK, "Smart lock parcel box Rosenthaler Platz", (52.5297, 13.4013)),
    at(JAMMED, "Smart lock tool library Kottbusser Tor", (52.4993, 13.4175)),
    at(LOCK, "Smart lock charging bay Ostkreuz", (52.5030, 13.4690)),
    at(LOCK, "Smart lock garage Görlitzer Park", (52.4966, 13.4370)),
    at(CAR, "Car B-MX 1041", (52.5169, 13.4019)),
    at(CAR, "Car B-MX 1042", (52.5030, 13.4690)),
    at(CAR, "Car B-MX 1043", (52.5365, 13.4176)),
    at(CAR, "Car B-MX 1044", (52.4869, 13.4244)),
    at(CAR, "Car B-MX 1045", (52.5251, 13.3694)),
    at(CAR, "Car B-MX 1046", (52.5096, 13.3759)),
    at(TRACKER, "Tracker cargo bike 1", (52.5225, 13.4020)),
    at(TRACKER, "Tracker cargo bike 2", (52.4966, 13.4370)),
    at(TRACKER, "Tracker cargo bike 3", (52.5430, 13.4020)),
    at(TRACKER, "Tracker delivery van 1", (52.5105, 13.4598)),
    at(TRACKER, "Tracker delivery van 2", (52.4736, 13.4017)),
    at(TRACKER, "Tracker container Westhafen", (52.5380, 13.3780)),
];

/// A small deterministic generator (the same sequence for the same seed).
#[derive(Clone, Debug)]
pub(super) struct Lcg(pub(super) u64);

impl Lcg {
    /// A generator for `seed` mixed with `salt`.
    pub(super) fn new(seed: u64, salt: u64) -> Self {
        let mut rng = Self(seed ^ salt.wrapping_mul(0x9e37_79b9_7f4a_7c15));
        rng.below(1);
        rng
    }

    /// A number in `0..n` (`n` > 0).
    pub(super) fn below(&mut self, n: u64) -> u64 {
        self.0 = self.0.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
        (self.0 >> 33) % n.max(1)
    }

    /// A number in `[-1, 1)`.
    fn signed(&mut self) -> f64 {
        self.below(2_000_001) as f64 / 1_000_000.0 - 1.0
    }
}

/// Where in the demo day `now_ms` falls: -1 at 3 am, 0 at 9 am and 9 pm, 1 at 3 pm.
pub(super) fn daylight(now_ms: u64) -> f64 {
    let phase = (now_ms % DAY_MS) as f64 / DAY_MS as f64;
    (std::f64::consts::TAU * (phase - 0.375)).sin()
}

/// The geohash of a position, `precision` characters.
pub(super) fn geohash(lat: f64, lon: f64, precision: usize) -> String {
    const ALPHABET: &[u8] = machina_types::market::GEOHASH_ALPHABET.as_bytes();
    let (mut lat_range, mut lon_range) = ([-90.0, 90.0], [-180.0, 180.0]);
    let mut out = String::with_capacity(precision);
    let (mut bits, mut count, mut even) = (0usize, 0, true);
    while out.len() < precision {
        let (range, value) = if even { (&mut lon_range, lon) } else { (&mut lat_range, lat) };
        let middle = (range[0] + range[1]) / 2.0;
        bits <<= 1;
        if value >= middle {
            bits |= 1;
            range[0] = middle;
        } else {
            range[1] = middle;
        }
        even = !even;
        count += 1;
        if count == 5 {
            out.push(char::from(ALPHABET[bits]));
            (bits, count) = (0, 0);
        }
    }
    out
}

fn fixed(value: f64, decimals: u8, unit: &str) -> Value {
    numeric((value * 10f64.powi(i32::from(decimals))).round() as i64, decimals, unit)
}

/// What device `index` of the town (`spec`) measures, its randomness drawn from `seed`.
pub(super) fn behaviour(spec: &Spec, index: usize, seed: u64) -> Box<dyn Behaviour> {
    let mut rng = Lcg::new(seed, index as u64);
    let salt = rng.signed();
    match spec.kind {
        WeatherStation => Box::new(Station { base: 15.0 + salt, rng }),
        SmartMeter => Box::new(Meter {
            base_w: 450.0 + 250.0 * salt,
            solar: false,
            kwh: 0.0,
            last_ms: 0,
            rng,
        }),
        Solar => Box::new(Meter { base_w: 9_000.0, solar: true, kwh: 0.0, last_ms: 0, rng }),
        SmartLock => Box::new(Lock { open_until_ms: 0 }),
        Car => Box::new(Mover::new(spec.place, Some(55.0 + 35.0 * salt), rng)),
        Tracker => Box::new(Mover::new(spec.place, None, rng)),
    }
}

/// A weather station: temperature and humidity following the day, with a little noise.
struct Station {
    base: f64,
    rng: Lcg,
}

impl Behaviour for Station {
    fn measure(&mut self, now_ms: u64) -> Vec<(StreamId, Value)> {
        let day = daylight(now_ms);
        let temperature = self.base + 6.0 * day + 0.15 * self.rng.signed();
        let humidity = 62.0 - 14.0 * day + 0.8 * self.rng.signed();
        vec![(1, fixed(temperature, 1, "C")), (2, fixed(humidity, 1, "%"))]
    }
}

/// A smart meter (consumption peaking in the evening) or a solar inverter (production
/// following the sun): the energy counter in kWh, and the power now.
struct Meter {
    base_w: f64,
    solar: bool,
    kwh: f64,
    last_ms: u64,
    rng: Lcg,
}

impl Behaviour for Meter {
    fn measure(&mut self, now_ms: u64) -> Vec<(StreamId, Value)> {
        let day = daylight(now_ms);
        let watts = if self.solar {
            (self.base_w * day).max(0.0)
        } else {
            // Low at night, a peak in the evening (three hours after the day's warmest).
            let evening = daylight(now_ms.saturating_add(DAY_MS / 8));
            self.base_w * (1.0 + 0.6 * evening) * (1.0 + 0.1 * self.rng.signed())
        };
        if self.last_ms > 0 {
            let hours = now_ms.saturating_sub(self.last_ms) as f64 / 3_600_000.0;
            self.kwh += watts / 1000.0 * hours * TIME_SCALE;
        }
        self.last_ms = now_ms;
        vec![(1, fixed(self.kwh, 3, "kWh")), (2, fixed(watts, 0, "W"))]
    }
}

/// How long a door stays open after an unlock.
const DOOR_OPEN_MS: u64 = 4_000;

/// A smart lock: whether its door is open (for a few seconds after each unlock it performs).
struct Lock {
    open_until_ms: u64,
}

impl Behaviour for Lock {
    fn measure(&mut self, now_ms: u64) -> Vec<(StreamId, Value)> {
        vec![(1, numeric(i64::from(now_ms < self.open_until_ms), 0, "open"))]
    }

    fn performed(&mut self, _command: &str, now_ms: u64) {
        self.open_until_ms = now_ms + DOOR_OPEN_MS;
    }
}

/// A car (with a battery it drains while driving and recharges when low) or a tracker:
/// moves through the town, turning a little at each step and bouncing off its edges.
struct Mover {
    position: (f64, f64),
    heading: f64,
    battery: Option<f64>,
    charging: bool,
    rng: Lcg,
}

impl Mover {
    fn new(position: (f64, f64), battery: Option<f64>, mut rng: Lcg) -> Self {
        let heading = std::f64::consts::PI * rng.signed();
        Self { position, heading, battery, charging: false, rng }
    }

    fn step(&mut self) {
        if self.charging {
            return;
        }
        self.heading += 0.35 * self.rng.signed();
        let (mut lat, mut lon) = self.position;
        lat += 0.00025 * self.heading.cos();
        lon += 0.0004 * self.heading.sin();
        let ([lat_min, lat_max], [lon_min, lon_max]) = AREA;
        if !(lat_min..lat_max).contains(&lat) || !(lon_min..lon_max).contains(&lon) {
            self.heading += std::f64::consts::PI;
            (lat, lon) = (lat.clamp(lat_min, lat_max), lon.clamp(lon_min, lon_max));
        }
        self.position = (lat, lon);
    }
}

impl Behaviour for Mover {
    fn measure(&mut self, _now_ms: u64) -> Vec<(StreamId, Value)> {
        self.step();
        let (lat, lon) = self.position;
        let bytes = geohash(lat, lon, POSITION_PRECISION).into_bytes();
        let Some(battery) = &mut self.battery else {
            return vec![(1, Value::Bytes { bytes })];
        };
        if self.charging {
            *battery += 0.8;
            self.charging = *battery < 90.0;
        } else {
            *battery -= 0.08 + 0.04 * self.rng.signed().abs();
            self.charging = *battery < 20.0;
        }
        vec![(1, fixed(*battery, 1, "%")), (2, Value::Bytes { bytes })]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn geohashes_match_the_reference_encoding() {
        assert_eq!(geohash(52.5219, 13.4132, 7), "u33dc1r");
        assert_eq!(geohash(52.4736, 13.4017, 7), "u33d8bw");
        assert_eq!(geohash(57.64911, 10.40744, 11), "u4pruydqqvj");
    }

    #[test]
    fn every_device_of_the_town_stands_in_the_markets_region() {
        assert!(TOWN.len() >= 24);
        for spec in TOWN {
            let (lat, lon) = spec.place;
            assert!(geohash(lat, lon, PLACE_PRECISION).starts_with("u33d"), "{}", spec.name);
        }
    }

    #[test]
    fn a_meter_counts_up_and_a_station_stays_plausible() {
        let meter = TOWN.iter().position(|s| s.kind == SmartMeter).unwrap();
        let mut meter = behaviour(&TOWN[meter], meter, 7);
        let mut station = behaviour(&TOWN[0], 0, 7);
        let mut last = i64::MIN;
        for second in 0..600u64 {
            let now = 1_800_000_000_000 + second * 1000;
            let Value::Numeric { value, .. } = meter.measure(now)[0].1.clone() else { panic!() };
            assert!(value >= last);
            last = value;
            let Value::Numeric { value, .. } = station.measure(now)[0].1.clone() else { panic!() };
            assert!((50..=250).contains(&value), "{value} tenths of a degree");
        }
        assert!(last > 0);
    }
}
