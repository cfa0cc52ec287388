# frozen_string_literal: true

require "json"
require "set"

module Inventory
  class Error < StandardError; end

  class OutOfStock < Error
    attr_reader :sku, :requested, :available

    def initialize(sku, requested, available)
      @sku = sku
      @requested = requested
      @available = available
      super("#{sku}: requested #{requested}, only #{available} left")
    end
  end

  # An immutable line item.
  Item = Struct.new(:sku, :name, :price_cents, :tags, keyword_init: true) do
    def price
      format("%.2f", price_cents / 100.0)
    end

    def tagged?(tag)
      tags.include?(tag.to_s)
    end
  end

  # Tracks quantities per SKU and notifies observers about changes.
  class Warehouse
    include Enumerable

    LOW_STOCK_THRESHOLD = 5

    attr_reader :name

    def initialize(name)
      @name = name
      @items = {}
      @stock = Hash.new(0)
      @observers = []
    end

    def on_change(&block)
      raise ArgumentError, "a block is required" unless block_given?

      @observers << block
      self
    end

    def add(item, quantity = 1)
      unless quantity.positive?
        raise ArgumentError, "quantity must be positive, got #{quantity.inspect}"
      end

      @items[item.sku] ||= item
      @stock[item.sku] += quantity
      notify(:added, item, quantity)
      self
    end
    alias << add

    def remove(sku, quantity = 1)
      available = @stock.fetch(sku) { raise Error, "unknown SKU #{sku}" }
      raise OutOfStock.new(sku, quantity, available) if quantity > available

      @stock[sku] -= quantity
      notify(:removed, @items[sku], quantity)
      @stock.delete(sku) if @stock[sku].zero?
      quantity
    end

    def quantity(sku) = @stock[sku]

    def each
      return enum_for(:each) unless block_given?

      @stock.each do |sku, qty|
        yield @items[sku], qty
      end
    end

    def low_stock(threshold = LOW_STOCK_THRESHOLD)
      select { |_item, qty| qty <= threshold }.map(&:first)
    end

    def total_value_cents
      sum { |item, qty| item.price_cents * qty }
    end

    def tags
      each_with_object(Set.new) { |(item, _), set| set.merge(item.tags) }
    end

    def to_h
      {
        name: name,
        items: map { |item, qty| item.to_h.merge(quantity: qty) },
        value: format("%.2f", total_value_cents / 100.0)
      }
    end

    def to_json(*args) = to_h.to_json(*args)

    private

    def notify(event, item, quantity)
      @observers.each do |observer|
        observer.call(event, item, quantity)
      rescue StandardError => e
        warn "observer failed: #{e.message}"
      end
    end
  end
end
