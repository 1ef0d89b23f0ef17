#include "measure.h"

#include "esp_adc/adc_cali.h"
#include "esp_adc/adc_cali_scheme.h"
#include "esp_adc/adc_oneshot.h"
#include "esp_log.h"
#include "freertos/FreeRTOS.h"
#include "freertos/task.h"
#include "sdkconfig.h"

#if CONFIG_SENSOR_I2C_SDA >= 0
#include "driver/i2c_master.h"
#endif

static const char *TAG = "measure";

#if CONFIG_SENSOR_I2C_SDA >= 0
/* Sensirion's CRC-8 (polynomial 0x31, init 0xFF) over two bytes. */
static uint8_t sht_crc(const uint8_t *data)
{
    uint8_t crc = 0xFF;
    for (int i = 0; i < 2; i++) {
        crc ^= data[i];
        for (int bit = 0; bit < 8; bit++)
            crc = (uint8_t)(crc & 0x80 ? (crc << 1) ^ 0x31 : crc << 1);
    }
    return crc;
}

/* SHT4x at 0x44: "measure, high precision" (0xFD), 10 ms, then T and RH with CRCs. */
static void measure_sht4x(bthome_reading_t *r)
{
    i2c_master_bus_config_t bus_config = {
        .i2c_port = -1,
        .sda_io_num = CONFIG_SENSOR_I2C_SDA,
        .scl_io_num = CONFIG_SENSOR_I2C_SCL,
        .clk_source = I2C_CLK_SRC_DEFAULT,
        .glitch_ignore_cnt = 7,
        .flags.enable_internal_pullup = true,
    };
    i2c_master_bus_handle_t bus;
    if (i2c_new_master_bus(&bus_config, &bus) != ESP_OK)
        return;
    i2c_device_config_t dev_config = {
        .dev_addr_length = I2C_ADDR_BIT_LEN_7,
        .device_address = 0x44,
        .scl_speed_hz = 100000,
    };
    i2c_master_dev_handle_t dev;
    uint8_t cmd = 0xFD, data[6];
    if (i2c_master_bus_add_device(bus, &dev_config, &dev) == ESP_OK) {
        if (i2c_master_transmit(dev, &cmd, 1, 50) == ESP_OK) {
            vTaskDelay(pdMS_TO_TICKS(10));
            if (i2c_master_receive(dev, data, sizeof data, 50) == ESP_OK &&
                sht_crc(data) == data[2] && sht_crc(data + 3) == data[5]) {
                float t = -45.0f + 175.0f * (float)(data[0] << 8 | data[1]) / 65535.0f;
                float rh = -6.0f + 125.0f * (float)(data[3] << 8 | data[4]) / 65535.0f;
                r->has_temperature = r->has_humidity = true;
                r->temperature_c = t;
                r->humidity_pct = rh < 0 ? 0 : rh > 100 ? 100 : rh;
            } else {
                ESP_LOGW(TAG, "SHT4x: no valid reading");
            }
        }
        i2c_master_bus_rm_device(dev);
    }
    i2c_del_master_bus(bus);
}
#endif

#if CONFIG_SENSOR_BATTERY_GPIO >= 0
/* A Li-ion cell behind a divider: 3.0 V empty, 4.2 V full, linear in between. */
static void measure_battery(bthome_reading_t *r)
{
    adc_unit_t unit;
    adc_channel_t channel;
    if (adc_oneshot_io_to_channel(CONFIG_SENSOR_BATTERY_GPIO, &unit, &channel) != ESP_OK)
        return;
    adc_oneshot_unit_handle_t adc;
    adc_oneshot_unit_init_cfg_t unit_config = {.unit_id = unit};
    if (adc_oneshot_new_unit(&unit_config, &adc) != ESP_OK)
        return;
    adc_oneshot_chan_cfg_t chan_config = {.atten = ADC_ATTEN_DB_12, .bitwidth = ADC_BITWIDTH_DEFAULT};
    adc_cali_handle_t cali = NULL;
#if ADC_CALI_SCHEME_CURVE_FITTING_SUPPORTED
    adc_cali_curve_fitting_config_t cali_config = {
        .unit_id = unit, .chan = channel, .atten = ADC_ATTEN_DB_12, .bitwidth = ADC_BITWIDTH_DEFAULT};
    adc_cali_create_scheme_curve_fitting(&cali_config, &cali);
#elif ADC_CALI_SCHEME_LINE_FITTING_SUPPORTED
    adc_cali_line_fitting_config_t cali_config = {
        .unit_id = unit, .atten = ADC_ATTEN_DB_12, .bitwidth = ADC_BITWIDTH_DEFAULT};
    adc_cali_create_scheme_line_fitting(&cali_config, &cali);
#endif
    int raw, mv;
    if (adc_oneshot_config_channel(adc, channel, &chan_config) == ESP_OK &&
        adc_oneshot_read(adc, channel, &raw) == ESP_OK && cali &&
        adc_cali_raw_to_voltage(cali, raw, &mv) == ESP_OK) {
        int cell_mv = mv * CONFIG_SENSOR_BATTERY_DIVIDER / 100;
        int pct = (cell_mv - 3000) * 100 / 1200;
        r->has_battery = true;
        r->battery_pct = (uint8_t)(pct < 0 ? 0 : pct > 100 ? 100 : pct);
    }
    adc_oneshot_del_unit(adc);
}
#endif

void measure(bthome_reading_t *r)
{
#if CONFIG_SENSOR_I2C_SDA >= 0
    measure_sht4x(r);
#endif
#if CONFIG_SENSOR_BATTERY_GPIO >= 0
    measure_battery(r);
#endif
    (void)r;
    (void)TAG;
}
