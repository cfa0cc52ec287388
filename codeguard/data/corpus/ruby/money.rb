# frozen_string_literal: true

# A value object for amounts of money, stored as integer cents.
class Money
  include Comparable

  class CurrencyMismatch < ArgumentError; end

  SYMBOLS = { "USD" => "$", "EUR" => "EUR ", "GBP" => "GBP " }.freeze

  attr_reader :cents, :currency

  def self.parse(text, currency = "USD")
    match = /\A\s*(?<sign>-)?(?<whole>\d+)(?:\.(?<frac>\d{1,2}))?\s*\z/.match(text)
    raise ArgumentError, "not an amount: #{text.inspect}" if match.nil?

    cents = match[:whole].to_i * 100 + match[:frac].to_s.ljust(2, "0").to_i
    new(match[:sign] ? -cents : cents, currency)
  end

  def self.zero(currency = "USD") = new(0, currency)

  def initialize(cents, currency = "USD")
    @cents = Integer(cents)
    @currency = currency.to_s.upcase.freeze
    freeze
  end

  def +(other)
    same_currency!(other)
    Money.new(cents + other.cents, currency)
  end

  def -(other)
    same_currency!(other)
    Money.new(cents - other.cents, currency)
  end

  def *(factor)
    Money.new((cents * factor).round, currency)
  end

  def -@
    Money.new(-cents, currency)
  end

  def <=>(other)
    return nil unless other.is_a?(Money) && other.currency == currency

    cents <=> other.cents
  end

  # Split into n parts whose sum is exactly this amount.
  def allocate(n)
    raise ArgumentError, "n must be positive" unless n.is_a?(Integer) && n.positive?

    base, remainder = cents.divmod(n)
    Array.new(n) { |i| Money.new(base + (i < remainder ? 1 : 0), currency) }
  end

  def zero? = cents.zero?

  def hash = [cents, currency].hash

  def eql?(other) = other.is_a?(Money) && (self <=> other).zero?

  def to_s
    sign = cents.negative? ? "-" : ""
    whole, frac = cents.abs.divmod(100)
    "#{sign}#{SYMBOLS.fetch(currency, "#{currency} ")}#{whole}.#{frac.to_s.rjust(2, '0')}"
  end

  def inspect = "#<Money #{self}>"

  private

  def same_currency!(other)
    return if other.currency == currency

    raise CurrencyMismatch, "cannot combine #{currency} with #{other.currency}"
  end
end
