'use strict';

/**
 * A minimal event emitter with wildcard listeners, once() handlers
 * and async iteration over emitted events.
 */
class EventEmitter {
  #listeners = new Map();
  #maxListeners = 10;

  /**
   * Register a listener for an event name.
   * @param {string} name - the event name, or "*" for every event
   * @param {Function} fn - called with the emitted arguments
   * @returns {Function} a function that removes the listener
   */
  on(name, fn) {
    if (typeof fn !== 'function') {
      throw new TypeError(`listener for "${name}" must be a function`);
    }
    const list = this.#listeners.get(name) ?? [];
    list.push(fn);
    this.#listeners.set(name, list);
    if (list.length > this.#maxListeners) {
      console.warn(`possible leak: ${list.length} listeners for ${name}`);
    }
    return () => this.off(name, fn);
  }

  once(name, fn) {
    const wrapper = (...args) => {
      this.off(name, wrapper);
      return fn.apply(this, args);
    };
    wrapper.original = fn;
    return this.on(name, wrapper);
  }

  off(name, fn) {
    const list = this.#listeners.get(name);
    if (!list) return false;
    const index = list.findIndex((l) => l === fn || l.original === fn);
    if (index === -1) return false;
    list.splice(index, 1);
    if (list.length === 0) this.#listeners.delete(name);
    return true;
  }

  emit(name, ...args) {
    const direct = this.#listeners.get(name) || [];
    const wildcard = name === '*' ? [] : this.#listeners.get('*') || [];
    let delivered = 0;
    for (const fn of [...direct]) {
      fn(...args);
      delivered++;
    }
    for (const fn of [...wildcard]) {
      fn(name, ...args);
      delivered++;
    }
    return delivered > 0;
  }

  listenerCount(name) {
    return this.#listeners.has(name) ? this.#listeners.get(name).length : 0;
  }

  setMaxListeners(n) {
    if (!Number.isInteger(n) || n < 0) {
      throw new RangeError('max listeners must be a non-negative integer');
    }
    this.#maxListeners = n;
    return this;
  }

  /** Resolve with the arguments of the next emission of `name`. */
  waitFor(name, { timeout = 0 } = {}) {
    return new Promise((resolve, reject) => {
      let timer = null;
      const remove = this.once(name, (...args) => {
        if (timer) clearTimeout(timer);
        resolve(args);
      });
      if (timeout > 0) {
        timer = setTimeout(() => {
          remove();
          reject(new Error(`timed out after ${timeout}ms waiting for ${name}`));
        }, timeout);
      }
    });
  }

  async *events(name) {
    const queue = [];
    let wake = null;
    const remove = this.on(name, (...args) => {
      queue.push(args);
      if (wake) {
        wake();
        wake = null;
      }
    });
    try {
      while (true) {
        while (queue.length > 0) {
          yield queue.shift();
        }
        await new Promise((r) => (wake = r));
      }
    } finally {
      remove();
    }
  }
}

module.exports = { EventEmitter };
