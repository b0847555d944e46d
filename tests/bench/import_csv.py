"""Write N customers as the CSV an ERP would send to POST /v1/imports/
customers, to standard output: the same mix of Chinese names, industries,
cities, phones, emails, grades, stages and tags as generate.sql.

    python3 tests/bench/import_csv.py 1000000 > customers.csv
"""
import sys

CITY = ["四川", "重庆", "北京", "上海", "广州", "深圳", "杭州", "南京",
        "武汉", "西安", "成都", "天津", "苏州", "长沙", "郑州", "青岛"]
TRADE = ["糖酒", "机械", "出版", "传媒", "贸易", "电子", "食品", "建材",
         "医药", "物流", "软件", "纺织", "化工", "能源", "旅游", "酒店"]
KIND = ["有限公司", "集团", "股份有限公司", "商行", "厂", "研究院"]
GRADE = ["A", "B", "C", "D"]
STAGE = ["potential", "intent", "won", "repeat", "churned", "won_back"]


def main():
    n = int(sys.argv[1])
    out = sys.stdout
    out.write("name,industry,province,city,phone,email,grade,"
              "lifecycle_stage,tags,external_id\r\n")
    buf = []
    for i in range(1, n + 1):
        city = CITY[i % 16]
        trade = TRADE[(i // 16) % 16]
        buf.append("%s%s%d%s,%s,%s,%s,0%d-%08d,contact%d@c%d.example.cn,"
                   "%s,%s,%s,ERP-%08d\r\n" % (
                       city, trade, i // 256, KIND[i % 6], trade, city, city,
                       20 + i % 80, i * 7919 % 100000000, i, i % 1000,
                       GRADE[i % 4], STAGE[i % 6],
                       "重点客户" if i % 10 == 0 else "", i))
        if len(buf) == 10000:
            out.write("".join(buf))
            buf = []
    out.write("".join(buf))


if __name__ == "__main__":
    main()
