#!/usr/bin/env python3
"""Generate data/bench_titles.txt: 1,200 realistic, unique product titles for benchmarks.

Usage (standard library only, any Python >= 3.8):

    python scripts/make_bench_titles.py            # writes data/bench_titles.txt
    python scripts/make_bench_titles.py --out x.txt --count 1200 --seed 20261101

Titles are built from per-category templates filled with brands, product lines and
attributes drawn from a seeded `random.Random`, so the output is identical on every run
(and on every platform: only `random.Random(seed)` with `choice`/`randint`/`shuffle` is
used). Duplicates are rejected. Most titles are 10-20 WordPiece tokens long (all-MiniLM
vocabulary). The order of the lines is the generation order (not sorted), so benchmark
batches mix lengths the way real traffic does.
"""

import argparse
import os
import random

CATEGORIES = {
    "phone": {
        "brands": {
            "Apple": ["iPhone 13", "iPhone 14", "iPhone 15", "iPhone 15 Pro", "iPhone 15 Pro Max", "iPhone SE"],
            "Samsung": ["Galaxy S23", "Galaxy S23 Ultra", "Galaxy S24", "Galaxy A54 5G", "Galaxy Z Flip5", "Galaxy Z Fold5"],
            "Google": ["Pixel 7a", "Pixel 8", "Pixel 8 Pro", "Pixel Fold"],
            "Motorola": ["Moto G Power", "Moto G Stylus 5G", "Edge 2023", "Razr 40 Ultra"],
            "OnePlus": ["11 5G", "Nord N30 5G", "12R", "Open"],
        },
        "attrs": [["64GB", "128GB", "256GB", "512GB", "1TB"],
                  ["Midnight", "Starlight", "Phantom Black", "Graphite", "Sierra Blue", "Lavender", "Obsidian", "Mint"],
                  ["Unlocked", "Verizon", "AT&T", "T-Mobile", "Dual SIM", "Renewed"]],
        "templates": [
            "{brand} {line} {a0} {a1} {a2}",
            "{brand} {line} 5G Smartphone, {a0}, {a1} - {a2}",
            "{line} ({a0}, {a1}) {a2} - {brand}",
            "{brand} {line} {a0} {a2} Cell Phone in {a1}",
        ],
    },
    "laptop": {
        "brands": {
            "Apple": ["MacBook Air 13-inch M2", "MacBook Air 15-inch M3", "MacBook Pro 14-inch M3 Pro"],
            "Dell": ["XPS 13 9340", "Inspiron 15 3520", "Latitude 5440", "G15 Gaming Laptop"],
            "HP": ["Pavilion 15", "Envy x360 14", "Spectre x360 16", "Victus 15"],
            "Lenovo": ["ThinkPad X1 Carbon Gen 11", "IdeaPad Slim 5", "Legion 5 Pro", "Yoga 7i"],
            "ASUS": ["Zenbook 14 OLED", "ROG Strix G16", "Vivobook 15", "TUF Gaming A15"],
            "Acer": ["Aspire 5", "Swift Go 14", "Nitro 5", "Chromebook Plus 515"],
        },
        "attrs": [["8GB RAM", "16GB RAM", "32GB RAM", "16GB DDR5"],
                  ["256GB SSD", "512GB SSD", "1TB SSD", "2TB PCIe SSD"],
                  ["Intel Core i5-1335U", "Intel Core i7-13700H", "AMD Ryzen 7 7735HS", "AMD Ryzen 5 7530U", "Intel Core Ultra 7"],
                  ["Windows 11 Home", "Windows 11 Pro", "Silver", "Space Gray", "Backlit Keyboard"]],
        "templates": [
            "{brand} {line} Laptop, {a0}, {a1}",
            "{brand} {line} ({a0} / {a1}) {a3}",
            "{line} by {brand} - {a2}, {a0}",
        ],
    },
    "audio": {
        "brands": {
            "Sony": ["WH-1000XM5", "WH-1000XM4", "WF-1000XM5", "WH-CH720N", "LinkBuds S"],
            "Bose": ["QuietComfort Ultra", "QuietComfort 45", "QuietComfort Earbuds II", "SoundLink Flex"],
            "Apple": ["AirPods Pro (2nd Generation)", "AirPods (3rd Generation)", "AirPods Max"],
            "JBL": ["Tune 510BT", "Flip 6", "Charge 5", "Live 660NC", "Clip 4"],
            "Sennheiser": ["Momentum 4 Wireless", "HD 560S", "CX Plus True Wireless"],
            "Beats": ["Studio Pro", "Solo 4", "Fit Pro", "Powerbeats Pro"],
        },
        "attrs": [["Black", "White", "Silver", "Midnight Blue", "Sandstone", "Red"],
                  ["Wireless Noise Cancelling Headphones", "True Wireless Earbuds", "Bluetooth Speaker",
                   "Over-Ear Headphones", "Wireless Earbuds with Charging Case"],
                  ["30-Hour Battery", "USB-C", "Waterproof IP67", "with Mic", "Spatial Audio"]],
        "templates": [
            "{brand} {line} {a1}, {a0}",
            "{brand} {line} {a1} - {a2} - {a0}",
            "{line} {a1} ({a0}) by {brand}",
        ],
    },
    "tv": {
        "brands": {
            "Samsung": ["Crystal UHD CU7000", "QN90C Neo QLED", "The Frame LS03B", "S90C OLED"],
            "LG": ["C3 OLED evo", "B3 OLED", "UR9000 UHD", "QNED80"],
            "Sony": ["BRAVIA XR A80L", "BRAVIA X80K", "BRAVIA X90L"],
            "TCL": ["Q6 QLED", "S4 4K", "QM8 Mini-LED"],
            "Hisense": ["U8 Mini-LED", "A6 Series", "U6 ULED"],
        },
        "attrs": [["43-Inch", "50-Inch", "55-Inch", "65-Inch", "75-Inch", "85-Inch"],
                  ["4K UHD Smart TV", "4K HDR Smart Google TV", "Smart LED TV", "4K Smart Tizen TV"],
                  ["2023 Model", "2024 Model", "with Alexa Built-in", "120Hz", "Dolby Vision"]],
        "templates": [
            "{brand} {a0} {line} {a1} ({a2})",
            "{brand} {line} {a0} Class {a1}, {a2}",
            "{a0} {brand} {line} {a1}",
        ],
    },
    "shoes": {
        "brands": {
            "Nike": ["Air Max 90", "Air Force 1 '07", "Pegasus 40", "Revolution 6", "Dunk Low Retro"],
            "Adidas": ["Ultraboost Light", "Samba OG", "Stan Smith", "Grand Court 2.0"],
            "New Balance": ["574 Core", "990v6", "Fresh Foam X 880v13", "327"],
            "ASICS": ["Gel-Kayano 30", "Gel-Nimbus 25", "GT-2000 12"],
            "Brooks": ["Ghost 15", "Adrenaline GTS 23", "Glycerin 20"],
            "Skechers": ["Go Walk 6", "Arch Fit", "D'Lites"],
        },
        "attrs": [["Men's", "Women's", "Unisex", "Big Kids'"],
                  ["Size 7", "Size 8", "Size 8.5", "Size 9", "Size 9.5", "Size 10", "Size 10.5", "Size 11", "Size 12"],
                  ["White/Black", "Triple Black", "Grey/Blue", "Core Black", "Cloud White", "Navy", "Wide Width"]],
        "templates": [
            "{brand} {a0} {line} Running Shoes, {a2}, {a1}",
            "{brand} {line} {a0} Sneaker {a1} {a2}",
            "{a0} {brand} {line} Shoe - {a2} - {a1}",
        ],
    },
    "apparel": {
        "brands": {
            "Levi's": ["501 Original Fit Jeans", "511 Slim Fit Jeans", "Trucker Jacket"],
            "Hanes": ["ComfortSoft T-Shirt", "EcoSmart Hoodie", "Crew Socks"],
            "Carhartt": ["Loose Fit Pocket T-Shirt", "Knit Cuffed Beanie", "Duck Active Jacket"],
            "Champion": ["Powerblend Fleece Hoodie", "Reverse Weave Sweatshirt"],
            "Under Armour": ["Tech 2.0 Short Sleeve", "HeatGear Compression Shorts"],
            "Columbia": ["Watertight II Rain Jacket", "Steens Mountain Fleece"],
        },
        "attrs": [["Men's", "Women's", "Boys'"],
                  ["Small", "Medium", "Large", "X-Large", "XX-Large", "32W x 30L", "34W x 32L"],
                  ["Black", "Navy", "Heather Grey", "Dark Stonewash", "Olive", "Burgundy"],
                  ["2-Pack", "3-Pack", "6-Pack", "Single"]],
        "templates": [
            "{brand} {a0} {line}, {a2}, {a1}",
            "{brand} {a0} {line} ({a3}) {a2} {a1}",
            "{a0} {line} by {brand} - {a2} - Size {a1}",
        ],
    },
    "kitchen": {
        "brands": {
            "Instant Pot": ["Duo 7-in-1 Electric Pressure Cooker", "Duo Crisp Air Fryer", "Pro Plus"],
            "Ninja": ["Professional Blender BL610", "AF101 Air Fryer", "Foodi 6-in-1", "Creami Ice Cream Maker"],
            "KitchenAid": ["Artisan Series Stand Mixer", "Classic Stand Mixer", "Hand Blender"],
            "Cuisinart": ["Coffee Center Grind and Brew", "Custom 14-Cup Food Processor", "Toaster Oven Broiler"],
            "Lodge": ["Cast Iron Skillet", "Enameled Dutch Oven", "Pre-Seasoned Griddle"],
            "Keurig": ["K-Classic Coffee Maker", "K-Mini Single Serve", "K-Supreme Plus"],
        },
        "attrs": [["3 Quart", "6 Quart", "8 Quart", "5-Qt", "10.25 Inch", "12 Inch", "72 oz"],
                  ["Stainless Steel", "Black", "Empire Red", "Matte White", "Silver"],
                  ["1500W", "1000 Watt", "Dishwasher Safe", "BPA Free", "Programmable"]],
        "templates": [
            "{brand} {line}, {a0}, {a1}",
            "{brand} {line} {a0} {a2} - {a1}",
            "{line} by {brand} ({a1}, {a0})",
        ],
    },
    "grocery": {
        "brands": {
            "Starbucks": ["Pike Place Roast Ground Coffee", "Veranda Blend K-Cup Pods", "French Roast Whole Bean"],
            "Folgers": ["Classic Roast Ground Coffee", "Black Silk K-Cup Pods"],
            "Nature Valley": ["Crunchy Granola Bars Oats 'n Honey", "Sweet & Salty Nut Bars"],
            "KIND": ["Dark Chocolate Nuts & Sea Salt Bars", "Healthy Grains Bars"],
            "Quaker": ["Old Fashioned Oats", "Instant Oatmeal Variety Pack"],
            "Kirkland Signature": ["Organic Extra Virgin Olive Oil", "Whole Cashews", "Organic Maple Syrup"],
            "Ghirardelli": ["Squares Dark Chocolate 72% Cacao", "Double Chocolate Brownie Mix"],
        },
        "attrs": [["12 oz", "16oz", "16 oz Bag", "2 lb", "1.36 kg", "32 Fl Oz", "24 Count", "48 Count", "100 ct"],
                  ["Pack of 2", "Pack of 4", "Pack of 6", "Value Pack", "Family Size"],
                  ["Gluten Free", "Non-GMO", "Kosher", "Medium Roast", "Dark Roast", "Organic"]],
        "templates": [
            "{brand} {line}, {a0} ({a1})",
            "{brand} {line} {a0} - {a2}",
            "{line}, {a0} by {brand}",
        ],
    },
    "beauty": {
        "brands": {
            "CeraVe": ["Moisturizing Cream", "Hydrating Facial Cleanser", "PM Facial Moisturizing Lotion"],
            "Neutrogena": ["Hydro Boost Water Gel", "Ultra Sheer Sunscreen SPF 70", "Oil-Free Acne Wash"],
            "Olay": ["Regenerist Micro-Sculpting Cream", "Total Effects 7-in-1"],
            "Dove": ["Beauty Bar Soap", "Deep Moisture Body Wash", "Men+Care Antiperspirant"],
            "L'Oreal Paris": ["Revitalift Triple Power", "Elvive Total Repair 5 Shampoo"],
            "The Ordinary": ["Niacinamide 10% + Zinc 1%", "Hyaluronic Acid 2% + B5"],
        },
        "attrs": [["1 fl oz", "1.7 oz", "8 oz", "12 fl oz", "16 oz", "19 oz", "30ml", "100 ml"],
                  ["Fragrance Free", "for Dry Skin", "for Sensitive Skin", "Dermatologist Recommended", "Non-Comedogenic"],
                  ["Pack of 2", "Pack of 3", "Twin Pack", "Travel Size", "Single"]],
        "templates": [
            "{brand} {line} {a1}, {a0}",
            "{brand} {line}, {a0} ({a2})",
            "{line} by {brand} - {a1} - {a0}",
        ],
    },
    "tools": {
        "brands": {
            "DEWALT": ["20V MAX Cordless Drill/Driver Kit", "ATOMIC 20V MAX Impact Driver", "Mechanics Tool Set"],
            "Milwaukee": ["M18 FUEL Hammer Drill", "M12 Cordless Ratchet", "PACKOUT Rolling Tool Box"],
            "Makita": ["18V LXT Brushless Circular Saw", "XFD131 Drill Driver Kit"],
            "Bosch": ["12V Max Drill/Driver Kit", "GLM 50-27 CG Laser Measure"],
            "Craftsman": ["V20 Cordless Drill", "230-Piece Mechanics Tool Set"],
            "Ryobi": ["ONE+ 18V Cordless Drill", "ONE+ String Trimmer"],
        },
        "attrs": [["1/2 Inch", "1/4 Inch", "6-1/2 Inch", "3/8 Inch"],
                  ["with 2 Batteries", "Tool Only", "with Charger and Bag", "2.0Ah Battery", "5.0Ah Battery"],
                  ["Brushless", "Yellow/Black", "Red", "Blue", "Kit"]],
        "templates": [
            "{brand} {line}, {a0} ({a2})",
            "{brand} {line} {a1}",
            "{line} - {brand} - {a0} {a2}",
        ],
    },
    "home": {
        "brands": {
            "Amazon Basics": ["Microfiber Sheet Set", "Down Alternative Comforter", "Memory Foam Pillow"],
            "Mainstays": ["Ribbed Bath Towel", "6-Cube Storage Organizer", "LED Desk Lamp"],
            "Dyson": ["V8 Cordless Vacuum", "V15 Detect Absolute", "Purifier Cool TP07"],
            "iRobot": ["Roomba 694 Robot Vacuum", "Roomba j7+ Self-Emptying"],
            "Philips Hue": ["White and Color Ambiance A19 Bulb", "Lightstrip Plus"],
            "Shark": ["Navigator Lift-Away Upright Vacuum", "AI Ultra Robot Vacuum"],
        },
        "attrs": [["Queen", "King", "Twin", "Full", "60 x 80 Inch", "2 Count", "4 Pack"],
                  ["White", "Grey", "Navy Blue", "Beige", "Sage Green", "Charcoal"],
                  ["Wi-Fi Connected", "Machine Washable", "Hypoallergenic", "Energy Star", "Bagless"]],
        "templates": [
            "{brand} {line}, {a0}, {a1}",
            "{brand} {line} - {a2} - {a1} {a0}",
            "{line} ({a0}) {a1} by {brand}",
        ],
    },
    "toys": {
        "brands": {
            "LEGO": ["Star Wars Millennium Falcon 75257", "Classic Large Creative Brick Box 10698", "Technic Ferrari Daytona SP3 42143"],
            "Hasbro": ["Monopoly Classic Board Game", "Play-Doh Modeling Compound 10-Pack", "Connect 4"],
            "Mattel": ["UNO Card Game", "Barbie Dreamhouse", "Hot Wheels Track Builder"],
            "Nintendo": ["Switch OLED Model", "Switch Pro Controller", "Mario Kart 8 Deluxe"],
            "Melissa & Doug": ["Wooden Building Blocks", "Deluxe Magnetic Standing Art Easel"],
        },
        "attrs": [["Ages 4+", "Ages 8+", "Ages 18+", "for Kids and Adults"],
                  ["Building Kit", "Family Game", "Gift Set", "Limited Edition"],
                  ["1,351 Pieces", "790 Pieces", "2 to 4 Players", "Multicolor", "Neon Red/Blue"]],
        "templates": [
            "{brand} {line} {a1}, {a0}",
            "{brand} {line} ({a2}) - {a0}",
            "{line} by {brand}, {a1} {a2}",
        ],
    },
}

NOISE = [""] * 20 + [" - FREE SHIPPING", " | New", " (Renewed)", " - Brand New in Box",
         " [Amazon Exclusive]", " - Fast Delivery", ", Bundle"]


def make_titles(count=1200, seed=20261101):
    rng = random.Random(seed)
    cats = sorted(CATEGORIES)
    seen = set()
    out = []
    attempts = 0
    while len(out) < count:
        attempts += 1
        if attempts > count * 200:
            raise RuntimeError("could not generate enough unique titles")
        cat = CATEGORIES[cats[rng.randint(0, len(cats) - 1)]]
        brand = rng.choice(sorted(cat["brands"]))
        line = rng.choice(cat["brands"][brand])
        attrs = {"a%d" % i: rng.choice(vals) for i, vals in enumerate(cat["attrs"])}
        title = rng.choice(cat["templates"]).format(brand=brand, line=line, **attrs)
        title += rng.choice(NOISE)
        title = " ".join(title.split())
        if title in seen:
            continue
        seen.add(title)
        out.append(title)
    return out


def main():
    here = os.path.dirname(os.path.abspath(__file__))
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", default=os.path.join(here, "..", "data", "bench_titles.txt"))
    ap.add_argument("--count", type=int, default=1200)
    ap.add_argument("--seed", type=int, default=20261101)
    args = ap.parse_args()
    titles = make_titles(args.count, args.seed)
    os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
    with open(args.out, "w", encoding="utf-8", newline="\n") as f:
        for t in titles:
            f.write(t + "\n")
    print("wrote %d titles to %s" % (len(titles), os.path.normpath(args.out)))


if __name__ == "__main__":
    main()
