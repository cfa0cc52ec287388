# frozen_string_literal: true

require "minitest/autorun"
require "stringio"
require_relative "inventory"
require_relative "report"

class WarehouseTest < Minitest::Test
  def setup
    @warehouse = Inventory::Warehouse.new("test")
    @apple = Inventory::Item.new(sku: "A1", name: "Apple", price_cents: 50, tags: %w[fruit fresh])
    @pear = Inventory::Item.new(sku: "P1", name: "Pear", price_cents: 75, tags: %w[fruit])
  end

  def test_add_and_quantity
    @warehouse << @apple
    @warehouse.add(@apple, 4)
    assert_equal 5, @warehouse.quantity("A1")
    assert_equal 0, @warehouse.quantity("missing")
  end

  def test_remove_raises_when_out_of_stock
    @warehouse.add(@pear, 2)
    error = assert_raises(Inventory::OutOfStock) { @warehouse.remove("P1", 3) }
    assert_equal 2, error.available
    assert_match(/only 2 left/, error.message)
  end

  def test_observers_are_notified
    events = []
    @warehouse.on_change { |event, item, qty| events << [event, item.sku, qty] }
    @warehouse.add(@apple, 3)
    @warehouse.remove("A1")
    assert_equal [[:added, "A1", 3], [:removed, "A1", 1]], events
  end

  def test_enumerable_helpers
    @warehouse.add(@apple, 10).add(@pear, 1)
    assert_equal [@pear], @warehouse.low_stock
    assert_equal 575, @warehouse.total_value_cents
    assert_equal Set["fruit", "fresh"], @warehouse.tags
  end

  def test_text_report
    @warehouse.add(@pear, 2)
    out = StringIO.new
    Inventory::Report.new(@warehouse, low: 2).render(out)
    assert_includes out.string, "Pear"
    assert_includes out.string, "(low)"
    assert_includes out.string, "Total value: 1.50"
  end
end
