"""Writes the illustrative quickstart data: items.jsonl (30 instructions with reference answers and
responses from three systems) and labels.jsonl (pairwise labels from three simulated annotators).

Everything here was written for gavel and is illustrative only: the texts are hand-written, and the
labels are simulated from a hand-assigned quality per response plus seeded annotator noise, with one
annotator (ann-3) drifting in the second week, so that agreement, drift and meta-evaluation have
something to show. Run: python3 examples/quickstart/make_data.py (standard library only).
"""

ITEMS = [
("q01","science","Why is the sky blue during the day?",
 "Sunlight is scattered by the molecules in the air, and shorter blue wavelengths scatter much more strongly than red ones (Rayleigh scattering), so blue light reaches our eyes from every direction of the sky.",
 "Air molecules scatter sunlight, and short blue wavelengths are scattered far more than long red ones. This Rayleigh scattering sends blue light toward us from all over the sky, so it looks blue.",
 "The sky looks blue because of the way light interacts with the atmosphere. Light from the sun contains many colours, and some of them bounce around more than others, which makes the sky appear blue to people on the ground during the daytime.",
 "Because the ocean reflects its colour onto the sky.",
 (5,3,1)),
("q02","math","What is 15% of 80?",
 "15% of 80 is 12.",
 "15% of 80 is 12, because 0.15 × 80 = 12.",
 "To find 15% of 80, multiply 80 by 0.15. The result is 12.",
 "It is 15.",
 (5,5,1)),
("q03","writing","Rewrite this sentence in plain English: 'Pursuant to the aforementioned policy, remuneration shall be disbursed on a monthly basis.'",
 "Under this policy, you will be paid every month.",
 "Under this policy, you will be paid once a month.",
 "According to the policy mentioned before, payment will be made each month to the people who are entitled to it.",
 "Remuneration is disbursed monthly pursuant to policy.",
 (5,3,2)),
("q04","howto","How do I boil an egg so the yolk is still runny?",
 "Lower the egg into boiling water, cook it for about 6 minutes, then move it into cold water to stop the cooking before peeling.",
 "Bring water to a boil, lower the egg in gently, cook for about 6 minutes, then cool it in cold water to stop the cooking. Peel and serve.",
 "Put the egg in water and heat it. When the water is boiling, wait a few minutes and then take it out. Cooling it afterwards helps.",
 "Boil it for 12 minutes.",
 (5,3,1)),
("q05","science","What gas do plants absorb from the air for photosynthesis?",
 "Plants absorb carbon dioxide from the air and use it, with water and light, to make sugars during photosynthesis.",
 "Plants take in carbon dioxide, which they combine with water using light energy to make sugars, releasing oxygen.",
 "Carbon dioxide.",
 "Plants absorb oxygen from the air for photosynthesis.",
 (5,4,1)),
("q06","history","Who was the first person to walk on the Moon, and when?",
 "Neil Armstrong was the first person to walk on the Moon, on 20 July 1969, during the Apollo 11 mission.",
 "Neil Armstrong, on 20 July 1969, during NASA's Apollo 11 mission.",
 "The first person on the Moon was Neil Armstrong. He was part of the Apollo 11 mission in 1969 together with Buzz Aldrin and Michael Collins.",
 "Buzz Aldrin in 1971.",
 (5,4,1)),
("q07","coding","In Python, how do I reverse a list called items?",
 "Use items.reverse() to reverse it in place, or items[::-1] to get a reversed copy.",
 "Call items.reverse() to reverse the list in place, or use items[::-1] if you want a new reversed list.",
 "You can use the reversed function: list(reversed(items)) gives you a reversed list.",
 "items.sort(reverse=True)",
 (5,4,1)),
("q08","writing","Give a one-sentence summary of the story of Cinderella.",
 "A kind young woman mistreated by her stepfamily attends a royal ball with a fairy godmother's help, loses a glass slipper, and is found and married by the prince.",
 "Helped by her fairy godmother, a mistreated young woman goes to the royal ball, leaves behind a glass slipper, and the prince uses it to find and marry her.",
 "Cinderella is a story about a girl who lives with her stepmother and stepsisters and who goes to a ball, where she meets a prince, and later there is a slipper that fits her foot.",
 "A girl loses her shoe.",
 (5,3,2)),
("q09","health","How much water should an adult drink each day?",
 "Needs vary, but a common guide is about 2 to 3 litres of fluid a day for adults, more in heat or with exercise; food also supplies some water.",
 "It varies with body size, climate and activity, but around 2 to 3 litres of fluids a day is a common guide for adults, and more when it is hot or you exercise.",
 "Most people say eight glasses of water a day, which is about two litres.",
 "Exactly 5 litres for everyone.",
 (5,3,1)),
("q10","math","Is 91 a prime number?",
 "No. 91 is not prime because 91 = 7 × 13.",
 "No, 91 = 7 × 13, so it is not prime.",
 "91 is not a prime number since it can be divided by 7.",
 "Yes, 91 is prime.",
 (5,4,1)),
("q11","howto","How can I make my laptop battery last longer?",
 "Lower the screen brightness, close unused apps, turn on the power-saving mode, disconnect unused devices, and avoid keeping the battery very hot or always at 100%.",
 "Dim the screen, close apps you are not using, enable battery-saver mode, turn off Bluetooth when idle, and keep the laptop cool; avoid leaving it charged at 100% all the time.",
 "Use battery saver and lower the brightness.",
 "Charge it overnight every night and keep it plugged in.",
 (5,3,1)),
("q12","science","What is the boiling point of water at sea level in Celsius?",
 "Water boils at 100 °C at sea level.",
 "At sea level, water boils at 100 °C.",
 "Water boils at 100 degrees Celsius at normal atmospheric pressure, which is the pressure at sea level, though it boils at lower temperatures at high altitude.",
 "90 °C.",
 (5,5,1)),
("q13","coding","What does the SQL keyword DISTINCT do?",
 "DISTINCT removes duplicate rows from a query's result, so each combination of selected values appears only once.",
 "DISTINCT makes a SELECT return each unique row once, dropping duplicates from the result.",
 "It is used in SQL queries with SELECT to get different values.",
 "It sorts the results in descending order.",
 (5,3,1)),
("q14","writing","Suggest a polite way to decline a meeting invitation.",
 "Thank you for the invitation. Unfortunately I can't attend, but please share any notes and I'll follow up if I can help.",
 "Thanks for inviting me. Unfortunately I can't make it, but I'd be glad to read the notes and follow up afterwards.",
 "You could say that you are busy at that time and cannot come to the meeting, and apologise to the organiser.",
 "No.",
 (5,3,1)),
("q15","geography","What is the capital of Australia?",
 "The capital of Australia is Canberra.",
 "Canberra is the capital of Australia.",
 "Australia's capital is Canberra, not Sydney as many people think.",
 "Sydney.",
 (5,5,1)),
("q16","health","Why is sleep important?",
 "Sleep lets the body repair itself, supports memory and learning, regulates mood and hormones, and keeps the immune system working well.",
 "During sleep the body repairs tissue, the brain consolidates memories, and hormones and mood are regulated; it also supports the immune system.",
 "Sleep is important because without enough sleep you feel tired and cannot concentrate.",
 "Sleep is not really important if you drink coffee.",
 (5,3,1)),
("q17","math","Convert 3 kilometres to metres.",
 "3 kilometres is 3,000 metres.",
 "3 km = 3,000 m.",
 "There are 1,000 metres in a kilometre, so 3 kilometres equals 3,000 metres.",
 "300 metres.",
 (5,5,1)),
("q18","history","Why did the Titanic sink?",
 "The Titanic struck an iceberg on 14 April 1912, which opened several of its forward compartments to the sea; too many flooded for the ship to stay afloat, and it sank early on 15 April.",
 "On the night of 14 April 1912 it hit an iceberg that breached several forward compartments. More compartments flooded than the design could survive, and it sank early the next morning.",
 "It hit an iceberg in the Atlantic Ocean.",
 "It was sunk by a storm.",
 (5,3,1)),
("q19","coding","What is the difference between git pull and git fetch?",
 "git fetch downloads new commits from the remote without changing your branch; git pull does a fetch and then merges (or rebases) those commits into your current branch.",
 "git fetch only downloads the remote's new commits; git pull fetches and then integrates them into your current branch by merge or rebase.",
 "git pull gets changes from the remote repository and git fetch also gets changes.",
 "They are the same command.",
 (5,2,1)),
("q20","writing","Write a short, friendly reminder that rent is due on Friday.",
 "Hi! Just a friendly reminder that rent is due this Friday. Thanks, and let me know if you have any questions.",
 "Hi there, a quick friendly reminder that rent is due on Friday. Thank you, and reach out if anything comes up!",
 "Reminder: rent is due Friday.",
 "Pay your rent now or else.",
 (5,3,1)),
("q21","science","What causes the seasons on Earth?",
 "The seasons are caused by the tilt of Earth's axis: as Earth orbits the Sun, each hemisphere leans toward the Sun for part of the year and away for the other, changing the angle and length of daylight.",
 "Earth's axis is tilted about 23.5 degrees. As it orbits, each hemisphere alternately leans toward and away from the Sun, which changes how directly sunlight strikes it and how long days are.",
 "Seasons happen because the Earth moves around the Sun during the year.",
 "The Earth is closer to the Sun in summer and farther in winter.",
 (5,2,1)),
("q22","howto","How do I remove a coffee stain from a cotton shirt?",
 "Rinse the stain from the back with cold water, rub in a little liquid detergent, let it sit for a few minutes, then wash as usual and check before drying.",
 "Flush the stain from the back with cold water, work in some liquid detergent, wait five minutes, wash normally, and make sure it is gone before putting it in the dryer.",
 "Wash the shirt in hot water straight away.",
 "Put it in the dryer on high heat.",
 (5,2,1)),
("q23","geography","Which is the longest river in Africa?",
 "The Nile is the longest river in Africa.",
 "The Nile, at roughly 6,650 km, is Africa's longest river.",
 "The longest river in Africa is the Nile, which flows north into the Mediterranean Sea.",
 "The Congo.",
 (5,5,1)),
("q24","coding","What is a race condition?",
 "A race condition is a bug where the result depends on the timing of concurrent operations, for example two threads updating shared data without synchronisation.",
 "It is a bug in concurrent code where the outcome depends on the order or timing of operations, such as two threads writing the same variable without a lock.",
 "A race condition is when two programs compete for the CPU.",
 "When code runs too fast.",
 (5,2,1)),
("q25","health","What are common symptoms of dehydration?",
 "Common symptoms include thirst, dark urine, a dry mouth, tiredness, dizziness and headache.",
 "Thirst, dark yellow urine, dry mouth, fatigue, dizziness and headaches are common signs of dehydration.",
 "Feeling thirsty is the main symptom.",
 "Sneezing and a runny nose.",
 (5,3,1)),
("q26","math","What is the area of a circle with radius 3 cm?",
 "The area is π × 3² = 9π ≈ 28.27 cm².",
 "A = πr² = π × 9 ≈ 28.27 cm².",
 "Use the formula area = pi times radius squared, so the area is about 28.3 square centimetres.",
 "About 18.85 cm².",
 (5,4,1)),
("q27","writing","Give three tips for writing a clear email.",
 "Put the main point in the first sentence, keep paragraphs short, and end with a clear request or next step.",
 "Lead with your main point, keep it short with one idea per paragraph, and close with the specific action you need.",
 "Be clear, be short, and be polite.",
 "Use many long paragraphs so nothing is missed.",
 (5,3,1)),
("q28","history","What was the Rosetta Stone important for?",
 "The Rosetta Stone carries the same decree in Greek, Demotic and hieroglyphs, which let scholars such as Champollion decipher Egyptian hieroglyphs in the 1820s.",
 "Because it repeats one decree in Greek, Demotic and hieroglyphic script, it gave scholars like Champollion the key to deciphering hieroglyphs in the 1820s.",
 "It helped people understand ancient Egypt.",
 "It was the first stone tool ever made.",
 (5,3,1)),
("q29","science","Why does ice float on water?",
 "Ice is less dense than liquid water because its molecules form an open hexagonal lattice when they freeze, so it floats.",
 "When water freezes its molecules lock into an open hexagonal structure that takes up more space, making ice less dense than liquid water, so it floats.",
 "Ice floats because it is lighter than water.",
 "Because ice contains air bubbles only.",
 (5,3,1)),
("q30","howto","How do I make a strong password?",
 "Use a long passphrase of several unrelated words or at least 12 random characters, make it unique for each account, and store it in a password manager.",
 "Pick a long, unique passphrase of several random words (or 12+ random characters) for each account and keep them in a password manager.",
 "Use letters, numbers and symbols in your password.",
 "Use your birthday so you can remember it.",
 (5,3,1)),
]

import json
import os
import random

SYSTEMS = ["alpha", "beta", "gamma"]
ANNOTATORS = {"ann-1": 0.5, "ann-2": 0.7, "ann-3": 0.6}
START = 1759622400  # 2025-10-05T00:00:00Z


def rfc3339(t):
    import datetime
    return datetime.datetime.fromtimestamp(t, datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def main():
    here = os.path.dirname(os.path.abspath(__file__))
    rng = random.Random(20251005)
    with open(os.path.join(here, "items.jsonl"), "w", encoding="utf-8") as f:
        for (qid, cat, instr, ref, a, b, g, _q) in ITEMS:
            rec = {"id": qid, "instruction": instr, "reference": ref, "category": cat,
                   "responses": {"alpha": a, "beta": b, "gamma": g}}
            f.write(json.dumps(rec, ensure_ascii=False) + "\n")
    labels = []
    for n, (qid, _cat, _instr, _ref, a, b, g, quality) in enumerate(ITEMS):
        q = dict(zip(SYSTEMS, quality))
        texts = dict(zip(SYSTEMS, (a, b, g)))
        second_week = n >= len(ITEMS) // 2
        for ann, sigma in ANNOTATORS.items():
            for (x, y) in [("alpha", "beta"), ("alpha", "gamma"), ("beta", "gamma")]:
                if rng.random() < 0.5:
                    x, y = y, x
                diff = q[x] - q[y] + rng.gauss(0.0, sigma)
                if ann == "ann-3" and second_week:
                    # The drifting annotator: noisier, and swayed by length in week two.
                    diff = rng.gauss(0.0, 2.0) + (len(texts[x]) - len(texts[y])) / 60.0
                label = "tie" if abs(diff) < 0.8 else ("A" if diff > 0 else "B")
                t = START + n * 40000 + rng.randrange(0, 3600)
                labels.append({
                    "item": qid, "annotator": ann, "label": label, "model_a": x, "model_b": y,
                    "time": rfc3339(t), "guideline_version": "v2" if second_week else "v1",
                    "round": "calibration" if n < 5 else "main",
                })
    with open(os.path.join(here, "labels.jsonl"), "w", encoding="utf-8") as f:
        for rec in labels:
            f.write(json.dumps(rec, ensure_ascii=False) + "\n")


if __name__ == "__main__":
    main()
