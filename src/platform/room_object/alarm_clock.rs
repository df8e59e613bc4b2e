//! The room's one alarm, and the one way it is set: synchronously, through
//! the storage binding, inside the event whose writes need it. The runtime
//! then stores the alarm with those writes, so an alarm exists exactly when
//! what it is for does. The idle sweep, token expiry and webhook retries
//! all ask here; [`crate::room::alarm`] is the math of when.

use std::cell::Cell;

use wasm_bindgen::{JsCast, JsValue};
use worker::worker_sys::DurableObjectStorage;
use worker::{js_sys, wasm_bindgen_futures};

use crate::platform::log::{emit, js_kind};
use crate::room::alarm;
use crate::wire::log_line::LogLine;

pub(crate) struct AlarmClock {
    storage: DurableObjectStorage,
    /// When the pending alarm fires, if this instance knows. It saves a
    /// storage read on every join and a write on every commit; a new
    /// instance learns it from storage once ([`Self::learn`]).
    at: Cell<Option<u64>>,
    known: Cell<bool>,
}

impl AlarmClock {
    pub(crate) fn new(storage: &DurableObjectStorage) -> Self {
        AlarmClock {
            // The binding type is not Clone; the JS object behind it is.
            storage: JsValue::clone(storage).unchecked_into(),
            at: Cell::new(None),
            known: Cell::new(false),
        }
    }

    /// Reads the pending alarm from storage, once per instance, so a
    /// wake-up never moves a sooner alarm it did not know of.
    pub(crate) async fn learn(&self) {
        if self.known.replace(true) || self.at.get().is_some() {
            return;
        }
        let Ok(promise) = self.storage.get_alarm(JsValue::NULL.unchecked_into()) else {
            return;
        };
        let stored = wasm_bindgen_futures::JsFuture::from(promise).await;
        let stored = stored.ok().and_then(|v| v.as_f64());
        if self.at.get().is_none() {
            self.at.set(stored.map(|ms| ms.max(0.0) as u64));
        }
    }

    /// The alarm is firing: none is pending until the next is set.
    pub(crate) fn fired(&self) {
        self.known.set(true);
        self.at.set(None);
    }

    /// Makes sure the alarm fires by `wanted` (epoch ms), moving a later
    /// one up and leaving a sooner one alone.
    pub(crate) fn wake_by(&self, wanted: u64) {
        let Some(at) = alarm::to_set(self.at.get(), wanted) else {
            return;
        };
        let when = js_sys::Date::new(&JsValue::from_f64(at as f64));
        match self.storage.set_alarm(when, JsValue::NULL.unchecked_into()) {
            Ok(promise) => {
                self.at.set(Some(at));
                wasm_bindgen_futures::spawn_local(async move {
                    if let Err(err) = wasm_bindgen_futures::JsFuture::from(promise).await {
                        emit(LogLine::error("alarm_failed").kind(js_kind(&err)));
                    }
                });
            }
            Err(err) => emit(LogLine::error("alarm_failed").kind(js_kind(&err))),
        }
    }
}
